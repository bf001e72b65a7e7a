//! Field errors shared by forms and the API.

use kiteline_templates::pages::FieldError;

pub type FieldErrors = Vec<FieldError>;

pub fn field(field: &'static str, message: &str) -> FieldError {
    FieldError { field, message: message.to_owned() }
}

/// The same error under the API's name for the field.
pub fn rename(mut e: FieldError, from: &str, to: &'static str) -> FieldError {
    if e.field == from {
        e.field = to;
    }
    e
}
