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
home-volunteer-text = Log in to see your account. New volunteers are invited by a coordinator; use the link in your invitation to choose a password.
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
error-password-contains-email = The password must not contain your e-mail address, the part before the @, or your name.
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

nav-label = Account
nav-account = Your account
nav-users = People
nav-audit = Audit log
nav-logout = Log out
nav-login = Log in

login-title = Log in
login-submit = Log in
login-forgot = Forgot your password?
error-login-failed = The e-mail address or password is not right.
totp-title = Second step
totp-lead = Enter the 6-digit code from your authenticator app, or one of your recovery codes.
field-code = Code
field-code-hint = 6 digits from your app, or a recovery code like abcd-efgh-ijkl-mnop.
totp-submit = Continue
error-code-invalid = That code is not right, or was already used. Wait for the next code and try again.

reset-title = Reset your password
reset-lead = Enter the e-mail address of your account. If it exists, we send a link to choose a new password.
reset-submit = Send the link
reset-sent = If an account has that address, a link to choose a new password is on its way. It works once and expires in one hour.

account-title = Your account
account-saved = Your changes are saved.
account-submit = Save changes
field-pronouns = Pronouns (optional)
field-time-zone = Time zone
field-time-zone-hint = Shift times are shown in this zone, for example America/Chicago.
field-languages = Languages you speak
field-locale = Language for Kiteline and its e-mails
field-phone = Phone number (optional)
field-phone-hint = For calls on shift. Stored encrypted; shown to nobody but you and the line's routing.
field-notifications = Reminders
field-notify-email = By e-mail
field-notify-sms = By text message
sessions-title = Where you are logged in
sessions-text = Log out of every browser and device, including this one.
logout-everywhere = Log out everywhere
error-pronouns = Pronouns can be at most 40 characters.
error-time-zone = Enter a time zone name like America/Los_Angeles.
error-phone = Enter a phone number of 7 to 15 digits, like +1 510 555 0100.
error-phone-country = Start the number with + and its country code, like +1 510 555 0100.
error-languages = Choose languages from the list.

password-change-title = Change your password
field-current-password = Current password
error-current-password = The current password is not right.

twofa-title = Two-step login
twofa-required = Coordinators and administrators must set up two-step login before anything else.
twofa-off = Two-step login is off. With it on, logging in also needs a code from an app on your phone.
twofa-start = Set up two-step login
twofa-scan = Scan this code with an authenticator app (such as Aegis, FreeOTP or Google Authenticator), then enter the 6-digit code it shows.
twofa-manual = Or type this key into the app:
twofa-confirm = Turn on two-step login
twofa-on = Two-step login is on.
twofa-codes-left = { $count } recovery codes left.
twofa-codes-title = Your recovery codes
twofa-codes-text = Each code works once if you lose your phone. Write them down or print them now: they are not shown again.
twofa-continue = Continue
field-fresh-code = Current code from your app
twofa-regenerate = Make new recovery codes
twofa-disable = Turn off two-step login
twofa-disabled = Two-step login is off.
twofa-staff-keep = Coordinators and administrators cannot turn two-step login off.

tokens-title = API tokens
tokens-lead = Tokens let programs use Kiteline's API as you. Each is shown once; only a fingerprint is kept.
tokens-new = Your new token. Copy it now; it is not shown again:
tokens-label = Label
tokens-scope = Scope
tokens-created = Created
tokens-last-used = Last used
tokens-never = never
tokens-revoke = Revoke
tokens-revoked = revoked
tokens-create = Create a token
error-label = Give the token a label of 1 to 100 characters.
error-scope = Choose a scope your role allows.

users-title = People
users-role = Role
users-chapter = Chapter
users-status = Status
users-actions = Actions
users-change-role = Change role
users-enable = Enable
users-disable = Disable
users-invite = Invite someone
users-invite-submit = Send invitation
users-at-large = At-large
users-invited = Invitation sent to { $email }.
users-role-changed = Role changed. Their sessions have ended.
users-disabled = Account disabled. Its sessions have ended.
users-enabled = Account enabled.
users-reset-2fa = Reset two-step login
users-2fa-reset = Two-step login was reset; they set it up again at their next login.
status-active = active
status-disabled = disabled
status-invited = invited
status-2fa = two-step on
error-role = Choose a role you may give.
error-chapter = Choose a chapter from the list.
error-self = You cannot change your own role or disable yourself.
chapters-title = Chapters
chapters-name = Chapter name
chapters-add = Add chapter
chapters-added = Chapter added.
error-chapter-name = Give the chapter a new name of 1 to 100 characters.

audit-title = Audit log
audit-actor = Actor
audit-action = Action
audit-object-type = Object type
audit-object-id = Object id
audit-since = From
audit-until = Before
audit-filter = Filter
audit-time = Time (UTC)
audit-older = Older entries
error-date = Enter a date like 2026-11-21.

forbidden-title = Not allowed
forbidden-text = Your account cannot open this page.
csrf-title = This form has expired
csrf-text = Go back, reload the page and try again.
rate-limited-title = Too many attempts
rate-limited-text = Please wait { $seconds } seconds and try again.

mail-invite-subject = You are invited to Kiteline
mail-invite-body = { $inviter } invited you to { $site }. Follow this link to choose your password. It works once and expires in { $hours } hours: { $link }
mail-reset-subject = Reset your Kiteline password
mail-reset-body = Someone asked to reset the password of this account. If it was you, follow this link within { $hours } hour(s); it works once: { $link } If it was not you, ignore this message; nothing changes.
login-remember = Keep me signed in on this device
login-remember-hint = Only on a device no one else uses. Otherwise you are signed out when the browser closes.
logout-everywhere-tokens = Also revoke my API tokens
tokens-expires = Expires
tokens-expired = expired
tokens-lifetime = Works for
tokens-days = { $days } days
tokens-admin-code = Code from your authenticator app
tokens-admin-code-hint = Needed for a token with the admin scope.
error-token-days = Choose how long the token works.
busy-title = Busy right now
busy-text = Kiteline is busy. Please try again in { $seconds } seconds.
client-address-title = Request not understood
client-address-text = Kiteline could not tell where this request came from. If this keeps happening, tell the person who runs this site.
request-timeout-title = That took too long
request-timeout-text = The form did not arrive in time. Please try again.
