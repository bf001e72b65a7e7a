# Kiteline — español.

site-name = Kiteline
skip-to-content = Saltar al contenido
language-label = Idioma
language-switch = Cambiar idioma
footer-text = Kiteline no usa rastreadores y no carga nada de otros sitios.

home-title = Solidaridad con las personas presas
home-lead = Esta organización mantiene una línea telefónica y un programa de correo para personas en prisiones, cárceles y centros de detención, hace campañas con ellas y recauda fondos para sus luchas.
home-volunteer-heading = Para voluntarias, voluntarios y coordinación
home-volunteer-text = Inicia sesión para ver tu cuenta. La coordinación invita a las personas voluntarias nuevas; usa el enlace de tu invitación para elegir una contraseña.
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
error-password-contains-email = La contraseña no debe contener tu correo electrónico, la parte antes de la @ ni tu nombre.
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

nav-label = Cuenta
nav-account = Tu cuenta
nav-users = Personas
nav-audit = Registro de auditoría
nav-logout = Cerrar sesión
nav-login = Iniciar sesión

login-title = Iniciar sesión
login-submit = Entrar
login-forgot = ¿Olvidaste tu contraseña?
error-login-failed = El correo electrónico o la contraseña no son correctos.
totp-title = Segundo paso
totp-lead = Escribe el código de 6 dígitos de tu aplicación de autenticación, o uno de tus códigos de recuperación.
field-code = Código
field-code-hint = 6 dígitos de tu aplicación, o un código de recuperación como abcd-efgh-ijkl-mnop.
totp-submit = Continuar
error-code-invalid = Ese código no es correcto o ya se usó. Espera el siguiente código e inténtalo de nuevo.

reset-title = Restablecer tu contraseña
reset-lead = Escribe el correo de tu cuenta. Si existe, enviaremos un enlace para elegir una contraseña nueva.
reset-submit = Enviar el enlace
reset-sent = Si hay una cuenta con ese correo, va en camino un enlace para elegir una contraseña nueva. Funciona una vez y vence en una hora.

account-title = Tu cuenta
account-saved = Tus cambios quedaron guardados.
account-submit = Guardar cambios
field-pronouns = Pronombres (opcional)
field-time-zone = Zona horaria
field-time-zone-hint = Los turnos se muestran en esta zona, por ejemplo America/Chicago.
field-languages = Idiomas que hablas
field-locale = Idioma de Kiteline y de sus correos
field-phone = Teléfono (opcional)
field-phone-hint = Para las llamadas en tu turno. Se guarda cifrado; solo lo ves tú y el enrutamiento de la línea.
field-notifications = Recordatorios
field-notify-email = Por correo electrónico
field-notify-sms = Por mensaje de texto
sessions-title = Dónde tienes la sesión abierta
sessions-text = Cierra la sesión en todos los navegadores y dispositivos, incluido este.
logout-everywhere = Cerrar sesión en todas partes
error-pronouns = Los pronombres pueden tener hasta 40 caracteres.
error-time-zone = Escribe una zona horaria como America/Los_Angeles.
error-phone = Escribe un teléfono de 7 a 15 dígitos, como +1 510 555 0100.
error-languages = Elige idiomas de la lista.

password-change-title = Cambiar tu contraseña
field-current-password = Contraseña actual
error-current-password = La contraseña actual no es correcta.

twofa-title = Inicio de sesión en dos pasos
twofa-required = La coordinación y la administración deben activar el inicio de sesión en dos pasos antes de cualquier otra cosa.
twofa-off = El inicio de sesión en dos pasos está desactivado. Activado, para entrar también necesitas un código de una aplicación en tu teléfono.
twofa-start = Activar el inicio de sesión en dos pasos
twofa-scan = Escanea este código con una aplicación de autenticación (como Aegis, FreeOTP o Google Authenticator) y escribe el código de 6 dígitos que muestra.
twofa-manual = O escribe esta clave en la aplicación:
twofa-confirm = Activar el inicio de sesión en dos pasos
twofa-on = El inicio de sesión en dos pasos está activado.
twofa-codes-left = Te quedan { $count } códigos de recuperación.
twofa-codes-title = Tus códigos de recuperación
twofa-codes-text = Cada código sirve una vez si pierdes tu teléfono. Anótalos o imprímelos ahora: no se vuelven a mostrar.
twofa-continue = Continuar
field-fresh-code = Código actual de tu aplicación
twofa-regenerate = Crear códigos de recuperación nuevos
twofa-disable = Desactivar el inicio de sesión en dos pasos
twofa-disabled = El inicio de sesión en dos pasos está desactivado.
twofa-staff-keep = La coordinación y la administración no pueden desactivar el inicio de sesión en dos pasos.

tokens-title = Tokens de la API
tokens-lead = Los tokens permiten que programas usen la API de Kiteline en tu nombre. Cada uno se muestra una sola vez; solo se guarda una huella.
tokens-new = Tu token nuevo. Cópialo ahora; no se vuelve a mostrar:
tokens-label = Nombre
tokens-scope = Alcance
tokens-created = Creado
tokens-last-used = Último uso
tokens-never = nunca
tokens-revoke = Revocar
tokens-revoked = revocado
tokens-create = Crear un token
error-label = Ponle al token un nombre de 1 a 100 caracteres.
error-scope = Elige un alcance que tu rol permita.

users-title = Personas
users-role = Rol
users-chapter = Sección
users-status = Estado
users-actions = Acciones
users-change-role = Cambiar rol
users-enable = Activar
users-disable = Desactivar
users-invite = Invitar a alguien
users-invite-submit = Enviar invitación
users-at-large = Sin sección
users-invited = Invitación enviada a { $email }.
users-role-changed = Rol cambiado. Sus sesiones se cerraron.
users-disabled = Cuenta desactivada. Sus sesiones se cerraron.
users-enabled = Cuenta activada.
users-reset-2fa = Restablecer el inicio en dos pasos
users-2fa-reset = Se restableció el inicio en dos pasos; lo configurará de nuevo en su próximo inicio de sesión.
status-active = activa
status-disabled = desactivada
status-invited = invitada
status-2fa = dos pasos activado
error-role = Elige un rol que puedas asignar.
error-chapter = Elige una sección de la lista.
error-self = No puedes cambiar tu propio rol ni desactivarte.
chapters-title = Secciones
chapters-name = Nombre de la sección
chapters-add = Agregar sección
chapters-added = Sección agregada.
error-chapter-name = Ponle a la sección un nombre nuevo de 1 a 100 caracteres.

audit-title = Registro de auditoría
audit-actor = Quién
audit-action = Acción
audit-object-type = Tipo de objeto
audit-object-id = Id del objeto
audit-since = Desde
audit-until = Antes de
audit-filter = Filtrar
audit-time = Hora (UTC)
audit-older = Entradas anteriores
error-date = Escribe una fecha como 2026-11-21.

forbidden-title = No permitido
forbidden-text = Tu cuenta no puede abrir esta página.
csrf-title = Este formulario venció
csrf-text = Regresa, vuelve a cargar la página e inténtalo de nuevo.
rate-limited-title = Demasiados intentos
rate-limited-text = Espera { $seconds } segundos e inténtalo de nuevo.

mail-invite-subject = Te invitaron a Kiteline
mail-invite-body = { $inviter } te invitó a { $site }. Sigue este enlace para elegir tu contraseña. Funciona una vez y vence en { $hours } horas: { $link }
mail-reset-subject = Restablece tu contraseña de Kiteline
mail-reset-body = Alguien pidió restablecer la contraseña de esta cuenta. Si fuiste tú, sigue este enlace dentro de { $hours } hora(s); funciona una vez: { $link } Si no fuiste tú, ignora este mensaje; nada cambia.
