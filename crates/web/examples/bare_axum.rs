//! A bare axum endpoint (`GET /` answers `ok`), the baseline every benchmark
//! in `bench/` is read against. Listens on 127.0.0.1 at the port given (0:
//! any), prints the address, and serves until killed.

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("loopback port is free");
    println!("http://{}", listener.local_addr().expect("bound"));
    axum::serve(listener, app).await.expect("serves");
}
