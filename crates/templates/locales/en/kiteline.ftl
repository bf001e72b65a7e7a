# Kiteline — English.
# Every message here must also exist in ../es/kiteline.ftl (a test checks).

site-name = Kiteline
skip-to-content = Skip to content
language-label = Language
language-switch = Change language
footer-text = Kiteline keeps no trackers and loads nothing from other sites.

home-title = Solidarity with people inside
home-lead = This organization runs a phone line and mail program for people in prisons, jails and detention centers, campaigns with them, and raises funds for their struggles.
home-volunteer-heading = For volunteers and coordinators
home-volunteer-text = Sign-in arrives soon. If a coordinator has invited you, use the link in your invitation.
home-inside-heading = If you are inside
home-inside-text = You cannot reach this website, but the people who run it can be reached by phone and by mail. Ask for the organization's number and address through someone you trust.

setup-title = Create the first administrator
setup-lead = This server has no administrator yet. The account you create here can invite everyone else.
field-name = Your name
field-email = E-mail address
field-password = Password
field-password-hint = At least 12 characters. A few unrelated words make a strong, memorable password.
field-password-confirm = Password, again
setup-submit = Create administrator
setup-done-title = Administrator created
setup-done-text = The administrator account for { $email } is ready. Keep the password somewhere safe.

password-title = Choose your password
password-lead = Set a password for { $email }.
password-submit = Save password
password-done-title = Password saved
password-done-text = Your password is set.

link-invalid-title = This link cannot be used
link-invalid-text = It has expired or was already used. Ask a coordinator for a new one.

error-name-required = Enter your name.
error-name-too-long = Your name is too long (at most 200 characters).
error-email-invalid = Enter an e-mail address like name@example.org.
error-password-too-short = The password must have at least 12 characters.
error-password-too-long = The password is too long.
error-password-mismatch = The two passwords are different.
error-password-contains-email = The password must not contain your e-mail address.
error-password-common = This password is too common or too easy to guess. Try a few unrelated words.
error-email-taken = An account with this e-mail address already exists.
error-admin-exists = An administrator already exists; this link can no longer be used.
error-summary = There is a problem

not-found-title = Page not found
not-found-text = There is nothing at this address.
server-error-title = Something went wrong
server-error-text = The server could not finish this request. Nothing you already saved is lost; please try again in a moment.
bad-request-title = This request could not be understood
bad-request-text = Please go back and try again.

mail-greeting = Hello { $name },
mail-greeting-anonymous = Hello,
mail-signoff = In solidarity,
mail-footer = You received this message from { $site } because of your role in it. If it is unexpected, you can ignore it.
mail-test-subject = Kiteline test message
mail-test-body = This is a test message. If you can read it, Kiteline's mail is set up correctly.
mail-set-password-subject = Set your Kiteline password
mail-set-password-body = Follow this link to choose your password. It works once and expires in { $hours } hours: { $link }
