//! A small SMTP server for tests, on 127.0.0.1: it speaks enough of RFC 5321
//! for lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and records what
//! arrives. `replies` scripts the answer to each DATA in turn (default 250).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default)]
pub struct Received {
    pub mail_from: String,
    pub rcpt: Vec<String>,
    pub data: String,
}

pub struct Sink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Sink {
    pub fn start(replies: Vec<u16>) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let replies = Arc::new(Mutex::new(replies.into_iter()));
        let r = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(100).flatten() {
                let (r, replies) = (r.clone(), replies.clone());
                std::thread::spawn(move || {
                    let _ = session(stream, &r, &replies);
                });
            }
        });
        Sink { addr, received }
    }

    /// Waits until `n` messages were accepted, then returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received.lock().unwrap().clone();
            if got.len() >= n || Instant::now() > deadline {
                assert!(got.len() >= n, "only {} of {n} messages arrived", got.len());
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn session(
    stream: TcpStream,
    received: &Mutex<Vec<Received>>,
    replies: &Mutex<std::vec::IntoIter<u16>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 sink.test ESMTP\r\n")?;
    let mut msg = Received::default();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            out.write_all(b"250-sink.test\r\n250 8BITMIME\r\n")?;
        } else if upper.starts_with("HELO") || upper.starts_with("RSET") || upper.starts_with("NOOP") {
            out.write_all(b"250 OK\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            msg = Received {
                mail_from: line[10..].trim().split(' ').next().unwrap_or("").to_owned(),
                ..Default::default()
            };
            out.write_all(b"250 OK\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            msg.rcpt.push(line[8..].trim().to_owned());
            out.write_all(b"250 OK\r\n")?;
        } else if upper.starts_with("DATA") {
            out.write_all(b"354 go ahead\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(&line);
            }
            msg.data = data;
            let code = replies.lock().unwrap().next().unwrap_or(250);
            if code == 250 {
                received.lock().unwrap().push(std::mem::take(&mut msg));
                out.write_all(b"250 queued\r\n")?;
            } else {
                // Like real servers, the refusal quotes the recipient.
                let rcpt = msg.rcpt.first().cloned().unwrap_or_default();
                let enhanced = if code >= 500 { "5.1.1" } else { "4.7.0" };
                out.write_all(format!("{code} {enhanced} {rcpt}: Recipient address rejected\r\n").as_bytes())?;
            }
        } else if upper.starts_with("QUIT") {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            out.write_all(b"502 not implemented\r\n")?;
        }
    }
}
