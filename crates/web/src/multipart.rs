//! `multipart/form-data` bodies (the one file upload, the logo), read with
//! `multer` from a body already buffered by the CSRF check.

use std::convert::Infallible;

use bytes::Bytes;

/// One part of a form.
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// The boundary, if `content_type` is `multipart/form-data`.
pub fn boundary(content_type: &str) -> Option<String> {
    if !content_type.trim_start().to_ascii_lowercase().starts_with("multipart/form-data") {
        return None;
    }
    multer::parse_boundary(content_type).ok()
}

/// Every part of the body; `None` if it is not a well-formed multipart body.
pub async fn parts(body: Bytes, boundary: &str) -> Option<Vec<Part>> {
    let stream = futures_util::stream::once(async move { Ok::<Bytes, Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut out = Vec::new();
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name()?.to_owned();
                let file_name = field.file_name().map(str::to_owned);
                let content_type = field.content_type().map(|m| m.essence_str().to_owned());
                let data = field.bytes().await.ok()?;
                out.push(Part { name, file_name, content_type, data });
            }
            Ok(None) => return Some(out),
            Err(_) => return None,
        }
    }
}

/// The text of the first part named `name`.
pub fn text<'a>(parts: &'a [Part], name: &str) -> Option<&'a str> {
    parts.iter().find(|p| p.name == name && p.file_name.is_none()).and_then(|p| std::str::from_utf8(&p.data).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fields_and_files_are_read() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc123\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"a.svg\"\r\n\
                    Content-Type: image/svg+xml\r\n\r\n<svg/>\r\n--XyZ--\r\n";
        let b = boundary("multipart/form-data; boundary=XyZ").unwrap();
        let parts = parts(Bytes::from(body), &b).await.unwrap();
        assert_eq!(text(&parts, "csrf"), Some("abc123"));
        let file = parts.iter().find(|p| p.name == "logo").unwrap();
        assert_eq!((file.file_name.as_deref(), file.content_type.as_deref()), (Some("a.svg"), Some("image/svg+xml")));
        assert_eq!(&file.data[..], b"<svg/>");
        assert!(boundary("application/x-www-form-urlencoded").is_none());
        assert!(super::parts(Bytes::from("garbage"), "XyZ").await.is_none());
    }
}
