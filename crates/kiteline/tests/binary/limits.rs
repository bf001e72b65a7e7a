//! Connection limits: slow heads, trickled bodies, huge heads, and a crowd
//! of idle sockets against a process with few file descriptors.

use super::*;

fn fast_timeouts(c: &mut Command) {
    c.env("KITELINE_HEADER_TIMEOUT_SECONDS", "1").env("KITELINE_BODY_TIMEOUT_SECONDS", "2");
}

/// Reads until the server closes the connection (or 10 s pass); what it sent.
fn until_closed(s: &mut TcpStream) -> Option<String> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&got).into_owned());
            }
            Err(_) => return None, // still open after 10 s
        }
    }
}

/// Seen: 20 half-sent request heads and trickled bodies were all still open
/// after 65 s, and a 200 kB header was accepted.
#[test]
fn slow_heads_and_trickled_bodies_are_cut_off_and_a_huge_head_is_refused() {
    let dir = TempDir::new("kl-bin");
    let mut c = kiteline(dir.path(), None);
    fast_timeouts(&mut c);
    let server = Server::start(c);
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: kiteline\r\nX-Slow: ").unwrap();
            s
        })
        .collect();
    for s in &mut slow {
        assert!(until_closed(s).is_some(), "a half-sent head is closed");
    }
    assert!(started.elapsed() < Duration::from_secs(8), "closed after about a second: {:?}", started.elapsed());

    // A body that trickles in gets 408 when its deadline passes.
    let mut s = TcpStream::connect(server.addr).unwrap();
    write!(s, "POST /login HTTP/1.1\r\nHost: kiteline\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n").unwrap();
    let t = Instant::now();
    let trickle = std::thread::spawn(move || {
        for _ in 0..20 {
            if s.write_all(b"a").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        s
    });
    let mut s = trickle.join().unwrap();
    let answer = until_closed(&mut s).unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());

    // A head of 200 kB is refused.
    let mut s = TcpStream::connect(server.addr).unwrap();
    let huge = "x".repeat(200 * 1024);
    let _ = write!(s, "GET / HTTP/1.1\r\nHost: kiteline\r\nX-Huge: {huge}\r\n\r\n");
    let answer = until_closed(&mut s).unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 431"), "{}", &answer[..answer.len().min(200)]);

    // Everyone else is still served.
    assert_eq!(http(server.addr, "GET", "/healthz", None).unwrap().0, 200);
    server.stop();
}

/// Seen: 70 idle half-open connections made `/healthz` time out on a process
/// with 64 file descriptors.
#[test]
fn a_crowd_of_idle_connections_cannot_starve_a_process_with_few_file_descriptors() {
    let dir = TempDir::new("kl-bin");
    let mut c = kiteline_with_file_limit(dir.path(), 64);
    fast_timeouts(&mut c);
    let server = Server::start(c);
    assert!(server.stderr().contains("max_connections=48"), "{}", server.stderr());
    let idle: Vec<TcpStream> = (0..70).map(|_| TcpStream::connect(server.addr).unwrap()).collect();
    let t = Instant::now();
    let (status, _) = http(server.addr, "GET", "/healthz", None).unwrap();
    assert_eq!(status, 200);
    assert!(t.elapsed() < Duration::from_secs(10), "answered in {:?}", t.elapsed());
    drop(idle);
    server.stop();
}
