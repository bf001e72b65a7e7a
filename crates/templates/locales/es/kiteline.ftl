# Kiteline — español.

site-name = Kiteline
skip-to-content = Saltar al contenido
language-label = Idioma
language-switch = Cambiar idioma
footer-text = Kiteline no usa rastreadores y no carga nada de otros sitios.

home-title = Solidaridad con las personas presas
home-lead = Esta organización mantiene una línea telefónica y un programa de correo para personas en prisiones, cárceles y centros de detención, hace campañas con ellas y recauda fondos para sus luchas.
home-volunteer-heading = Para voluntarias, voluntarios y coordinación
home-volunteer-text = El inicio de sesión llegará pronto. Si la coordinación te invitó, usa el enlace de tu invitación.
home-inside-heading = Si estás adentro
home-inside-text = No puedes entrar a este sitio, pero puedes comunicarte con quienes lo mantienen por teléfono y por correo. Pide el número y la dirección de la organización a alguien de confianza.

setup-title = Crear la primera cuenta de administración
setup-lead = Este servidor todavía no tiene administración. La cuenta que crees aquí podrá invitar a todas las demás personas.
field-name = Tu nombre
field-email = Correo electrónico
field-password = Contraseña
field-password-hint = Al menos 12 caracteres. Varias palabras sin relación forman una contraseña fuerte y fácil de recordar.
field-password-confirm = Contraseña, otra vez
setup-submit = Crear cuenta de administración
setup-done-title = Cuenta de administración creada
setup-done-text = La cuenta de administración para { $email } está lista. Guarda la contraseña en un lugar seguro.

password-title = Elige tu contraseña
password-lead = Crea una contraseña para { $email }.
password-submit = Guardar contraseña
password-done-title = Contraseña guardada
password-done-text = Tu contraseña quedó guardada.

link-invalid-title = Este enlace no se puede usar
link-invalid-text = Venció o ya se usó. Pide uno nuevo a la coordinación.

error-name-required = Escribe tu nombre.
error-name-too-long = Tu nombre es demasiado largo (máximo 200 caracteres).
error-email-invalid = Escribe un correo como nombre@ejemplo.org.
error-password-too-short = La contraseña debe tener al menos 12 caracteres.
error-password-too-long = La contraseña es demasiado larga.
error-password-mismatch = Las dos contraseñas no coinciden.
error-password-contains-email = La contraseña no debe contener tu correo electrónico.
error-password-common = Esta contraseña es demasiado común o fácil de adivinar. Prueba con varias palabras sin relación.
error-email-taken = Ya existe una cuenta con este correo electrónico.
error-admin-exists = Ya existe una cuenta de administración; este enlace ya no se puede usar.
error-summary = Hay un problema

not-found-title = Página no encontrada
not-found-text = No hay nada en esta dirección.
server-error-title = Algo salió mal
server-error-text = El servidor no pudo terminar esta solicitud. No se perdió nada de lo que ya guardaste; vuelve a intentarlo en un momento.
bad-request-title = No se pudo entender esta solicitud
bad-request-text = Regresa e inténtalo de nuevo.

mail-greeting = Hola { $name }:
mail-greeting-anonymous = Hola:
mail-signoff = En solidaridad,
mail-footer = Recibiste este mensaje de { $site } por tu papel en la organización. Si no lo esperabas, puedes ignorarlo.
mail-test-subject = Mensaje de prueba de Kiteline
mail-test-body = Este es un mensaje de prueba. Si puedes leerlo, el correo de Kiteline está bien configurado.
mail-set-password-subject = Crea tu contraseña de Kiteline
mail-set-password-body = Sigue este enlace para elegir tu contraseña. Funciona una sola vez y vence en { $hours } horas: { $link }
