//! E-mail through an SMTP relay, as the regions' notifications and the centre's scheduled
//! reports send it: one way to reach the relay (STARTTLS as asked, a login when given,
//! every exchange bounded) and one way to build a message (plain text, or HTML with a
//! plain-text alternative, and attachments).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// STARTTLS use towards a relay.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartTls {
    None,
    #[default]
    Opportunistic,
    Required,
}

/// Where and how to reach a relay.
#[derive(Debug, Clone, Copy)]
pub struct Relay<'a> {
    /// `host:port`.
    pub smtp: &'a str,
    pub starttls: StartTls,
    /// User name and password, when the relay wants a login.
    pub credentials: Option<(&'a String, &'a String)>,
    /// Bound of each exchange.
    pub timeout: Duration,
}

/// A file sent with a message.
#[derive(Debug, Clone)]
pub struct Attached {
    pub name: String,
    /// Its MIME type, e.g. `text/csv`.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// One message.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The plain-text body (always sent; the alternative to `html` when there is one).
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attached>,
}

/// An SMTP transport to `host:port` with `starttls`, logging in with `credentials` when
/// given; each exchange bounded by `timeout`.
pub fn transport(
    host: &str,
    port: u16,
    starttls: StartTls,
    credentials: Option<(&String, &String)>,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = match starttls {
        StartTls::None => Tls::None,
        StartTls::Opportunistic | StartTls::Required => {
            let params = TlsParameters::new(host.to_string())
                .map_err(|e| format!("TLS parameters for {host}: {e}"))?;
            if starttls == StartTls::Required {
                Tls::Required(params)
            } else {
                Tls::Opportunistic(params)
            }
        }
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some((user, pass)) = credentials {
        transport = transport.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    Ok(transport.build())
}

/// Whether `text` is an e-mail address (`ops@example.com`, `Ops <ops@example.com>`).
pub fn is_address(text: &str) -> bool {
    text.parse::<Mailbox>().is_ok()
}

/// `mail` as lettre's message, or what is wrong with it (an address, say).
pub fn build(mail: &Mail) -> Result<lettre::Message, String> {
    let mailbox = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|e| format!("address '{a}': {e}"))
    };
    let mut builder = lettre::Message::builder()
        .from(mailbox(&mail.from)?)
        .subject(mail.subject.clone());
    for t in &mail.to {
        builder = builder.to(mailbox(t)?);
    }
    let built = if mail.html.is_none() && mail.attachments.is_empty() {
        builder
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
    } else {
        let text = SinglePart::plain(mail.text.clone());
        let body = match &mail.html {
            Some(html) => MultiPart::alternative()
                .singlepart(text)
                .singlepart(SinglePart::html(html.clone())),
            None => MultiPart::mixed().singlepart(text),
        };
        let mut all = MultiPart::mixed().multipart(body);
        for a in &mail.attachments {
            let content_type = ContentType::parse(&a.content_type)
                .map_err(|e| format!("attachment {}: type '{}': {e}", a.name, a.content_type))?;
            all =
                all.singlepart(Attachment::new(a.name.clone()).body(a.bytes.clone(), content_type));
        }
        builder.multipart(all)
    };
    built.map_err(|e| format!("build the e-mail: {e}"))
}

/// Sends `mail` through `relay` once.
pub async fn send(relay: Relay<'_>, mail: &Mail) -> Result<(), String> {
    let (host, port) = relay
        .smtp
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("smtp '{}' is not host:port", relay.smtp))?;
    let message = build(mail)?;
    let transport = transport(host, port, relay.starttls, relay.credentials, relay.timeout)?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("SMTP {}: {e}", relay.smtp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_mail_carries_its_html_text_and_attachment() {
        let mail = Mail {
            from: "strata@example.test".into(),
            to: vec!["ops@example.test".into()],
            subject: "weekly".into(),
            text: "see the table".into(),
            html: Some("<table><tr><td>1</td></tr></table>".into()),
            attachments: vec![Attached {
                name: "weekly.csv".into(),
                content_type: "text/csv".into(),
                bytes: b"a,b\n1,2\n".to_vec(),
            }],
        };
        let raw = String::from_utf8(build(&mail).unwrap().formatted()).unwrap();
        for part in [
            "multipart/mixed",
            "multipart/alternative",
            "text/html",
            "<table>",
            "filename=\"weekly.csv\"",
            "text/csv",
        ] {
            assert!(raw.contains(part), "{part} not in {raw}");
        }
        let bad = Mail {
            from: "not an address".into(),
            ..mail
        };
        assert!(
            build(&bad)
                .unwrap_err()
                .contains("address 'not an address'")
        );
    }
}
