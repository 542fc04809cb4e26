//! WebSocket upgrades: a tunnel only after the upstream answers 101, only where allowed.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use crate::support::TestGateway;

/// A WebSocket upstream that echoes every text message, prefixed with the path it was on.
async fn websocket_echo() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message {
                        let _ = socket.send(Message::text(format!("echo: {text}"))).await;
                    }
                }
            });
        }
    });
    address
}

fn apps(upstream: std::net::SocketAddr) -> String {
    format!(
        "
  - name: ws
    host: ws.example.test
    upstream: [\"http://{upstream}\"]
    websocket: true
  - name: app
    host: app.example.test
    upstream: [\"http://{upstream}\"]
"
    )
}

#[tokio::test]
async fn websocket_messages_flow_both_ways_through_the_tunnel() {
    let upstream = websocket_echo().await;
    let gateway = TestGateway::start(&apps(upstream)).await;
    let stream = gateway.connect("ws.example.test").await;
    let url = format!("wss://ws.example.test:{}/socket", gateway.address().port());
    let (mut socket, response) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(response.status(), 101);
    for word in ["one", "two", "three"] {
        socket.send(Message::text(word)).await.unwrap();
        let reply = socket.next().await.unwrap().unwrap();
        assert_eq!(reply.into_text().unwrap().as_str(), format!("echo: {word}"));
    }
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn websocket_is_refused_where_the_app_does_not_allow_it() {
    let upstream = websocket_echo().await;
    let gateway = TestGateway::start(&apps(upstream)).await;
    let stream = gateway.connect("app.example.test").await;
    let url = format!("wss://app.example.test:{}/socket", gateway.address().port());
    let result = tokio_tungstenite::client_async(url, stream).await;
    assert!(
        result.is_err(),
        "no tunnel may open on an app without websocket: true"
    );
}
