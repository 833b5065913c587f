//! The in-memory transport keeps what the layers above rely on: pinning,
//! end-of-stream, bounded frames, and connections that end.

use std::net::SocketAddr;

use keylink_net::{
    AnyEndpoint, Conn, Fingerprint, MemNet, NetError, ServerIdentity, ServerTrust, read_frame,
    write_frame,
};

const SERVER: &str = "10.0.0.1:443";

fn server(net: &MemNet) -> (AnyEndpoint, Fingerprint, SocketAddr) {
    let identity = ServerIdentity::generate().unwrap();
    let addr: SocketAddr = SERVER.parse().unwrap();
    (
        net.listen(addr, identity.fingerprint()),
        identity.fingerprint(),
        addr,
    )
}

/// A server on `net`, a client connected to it with the right pin, and
/// the server's side of that connection.
async fn connected(net: &MemNet) -> (AnyEndpoint, Fingerprint, SocketAddr, Conn, Conn) {
    let (listener, fp, addr) = server(net);
    let conn = net
        .client()
        .connect(addr, &ServerTrust::Pinned(fp))
        .await
        .unwrap();
    let accepted = listener.accept().await.unwrap().accept().await.unwrap();
    (listener, fp, addr, conn, accepted)
}

#[tokio::test]
async fn a_wrong_pin_or_no_server_is_refused() {
    let net = MemNet::new([1; 32]);
    let (_listener, _fp, addr) = server(&net);
    let wrong = Fingerprint::from_bytes([9; 32]);
    let client = net.client();
    let r = client.connect(addr, &ServerTrust::Pinned(wrong)).await;
    assert!(matches!(r, Err(NetError::FingerprintMismatch)), "{r:?}");
    let nobody: SocketAddr = "10.9.9.9:443".parse().unwrap();
    let r = client
        .connect(nobody, &ServerTrust::InsecureAcceptAny)
        .await;
    assert!(matches!(r, Err(NetError::Unreachable)), "{r:?}");
}

#[tokio::test]
async fn frames_cross_ends_are_seen_and_oversized_frames_refused() {
    let net = MemNet::new([2; 32]);
    let (_listener, fp, _addr, conn, accepted) = connected(&net).await;
    assert_eq!(conn.peer_fingerprint(), Some(fp));
    assert_eq!(
        conn.exporter(b"label", b"").unwrap(),
        accepted.exporter(b"label", b"").unwrap(),
        "both ends share the binding"
    );
    assert_ne!(
        conn.exporter(b"label", b"").unwrap(),
        conn.exporter(b"other", b"").unwrap()
    );

    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let (mut s_send, mut s_recv) = accepted.accept_bi().await.unwrap();
    write_frame(&mut send, b"hello").await.unwrap();
    send.finish().unwrap();
    assert_eq!(
        read_frame(&mut s_recv, 64).await.unwrap().unwrap(),
        b"hello"
    );
    // The writer finished: a clean end, not an error.
    assert_eq!(read_frame(&mut s_recv, 64).await.unwrap(), None);

    // A length above the reader's limit is refused before allocating.
    write_frame(&mut s_send, &[7u8; 100]).await.unwrap();
    let r = read_frame(&mut recv, 64).await;
    assert!(
        matches!(r, Err(NetError::FrameTooLarge { len: 100, max: 64 })),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_truncated_frame_is_an_error() {
    let net = MemNet::new([3; 32]);
    let (_listener, _fp, _addr, conn, accepted) = connected(&net).await;
    let (mut send, _recv) = conn.open_bi().await.unwrap();
    let (_s_send, mut s_recv) = accepted.accept_bi().await.unwrap();
    // A header announcing 10 bytes, then 3, then the end.
    send.write_all(&10u32.to_be_bytes()).await.unwrap();
    send.write_all(b"abc").await.unwrap();
    send.finish().unwrap();
    let r = read_frame(&mut s_recv, 64).await;
    assert!(matches!(r, Err(NetError::Truncated)), "{r:?}");
}

#[tokio::test]
async fn closing_the_server_ends_its_connections_and_their_streams() {
    let net = MemNet::new([4; 32]);
    let (listener, fp, addr, conn, accepted) = connected(&net).await;
    let (_send, mut recv) = conn.open_bi().await.unwrap();
    let (_s_send, _s_recv) = accepted.accept_bi().await.unwrap();

    // A read waiting on the client side ends when the server closes.
    let reader = tokio::spawn(async move { read_frame(&mut recv, 64).await });
    tokio::task::yield_now().await;
    listener.close(0, b"bye");
    let r = reader.await.unwrap();
    assert!(matches!(r, Err(NetError::Ended)), "{r:?}");
    assert!(conn.is_closed());
    assert!(matches!(conn.open_bi().await, Err(NetError::Ended)));
    assert!(
        listener.accept().await.is_none(),
        "a closed listener takes nothing"
    );
    let r = net.client().connect(addr, &ServerTrust::Pinned(fp)).await;
    assert!(matches!(r, Err(NetError::Unreachable)), "{r:?}");

    // A new server at the same address is reachable; the old one's close
    // does not take its place away.
    let (_again, fp2, _) = server(&net);
    listener.close(0, b"twice");
    assert!(
        net.client()
            .connect(addr, &ServerTrust::Pinned(fp2))
            .await
            .is_ok()
    );
}
