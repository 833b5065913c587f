//! Network tests over real QUIC on loopback.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use keylink_net::{
    EndpointLimits, Fingerprint, MAX_FRAME, NetError, ServerIdentity, ServerTrust, client_endpoint,
    connect, exporter, read_frame, server_endpoint, write_frame,
};

mod memory;

const LOOPBACK: &str = "127.0.0.1:0";

/// A server that answers each frame on a stream with the same bytes, and
/// reports each stream's read error (if any) back as a frame "ERR <class>".
async fn echo_server(identity: &ServerIdentity) -> (keylink_net::Endpoint, SocketAddr) {
    let ep = server_endpoint(
        identity,
        LOOPBACK.parse().unwrap(),
        EndpointLimits::default(),
    )
    .unwrap();
    let addr = ep.local_addr().unwrap();
    let server = ep.clone();
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                    tokio::spawn(async move {
                        loop {
                            match read_frame(&mut recv, 1 << 20).await {
                                Ok(Some(f)) => write_frame(&mut send, &f).await.unwrap(),
                                Ok(None) => break,
                                Err(e) => {
                                    let msg = match e {
                                        NetError::FrameTooLarge { .. } => "ERR too_large",
                                        NetError::Truncated => "ERR truncated",
                                        _ => "ERR other",
                                    };
                                    let _ = write_frame(&mut send, msg.as_bytes()).await;
                                    break;
                                }
                            }
                        }
                        let _ = send.finish();
                    });
                }
            });
        }
    });
    (ep, addr)
}

#[tokio::test]
async fn pinned_connection_echoes_frames_and_shares_an_exporter() {
    let id = ServerIdentity::generate().unwrap();
    let (server, addr) = echo_server(&id).await;
    let client = client_endpoint(LOOPBACK.parse().unwrap()).unwrap();
    let conn = connect(&client, addr, &ServerTrust::Pinned(id.fingerprint()))
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    for msg in [&b""[..], b"hello", &vec![7u8; 300_000]] {
        write_frame(&mut send, msg).await.unwrap();
        assert_eq!(read_frame(&mut recv, 1 << 20).await.unwrap().unwrap(), msg);
    }
    let a = exporter(&conn, b"keylink test", b"ctx").unwrap();
    let b = exporter(&conn, b"keylink test", b"other").unwrap();
    assert_ne!(a, b);
    drop(server);
}

#[tokio::test]
async fn a_wrong_pin_is_refused() {
    let id = ServerIdentity::generate().unwrap();
    let other = ServerIdentity::generate().unwrap();
    let (_server, addr) = echo_server(&id).await;
    let client = client_endpoint(LOOPBACK.parse().unwrap()).unwrap();
    let err = connect(&client, addr, &ServerTrust::Pinned(other.fingerprint()))
        .await
        .unwrap_err();
    assert!(matches!(err, NetError::FingerprintMismatch), "{err:?}");
}

#[tokio::test]
async fn a_frame_length_of_2_pow_32_minus_1_is_refused_before_allocation() {
    let id = ServerIdentity::generate().unwrap();
    let (_server, addr) = echo_server(&id).await;
    let client = client_endpoint(LOOPBACK.parse().unwrap()).unwrap();
    let conn = connect(&client, addr, &ServerTrust::Pinned(id.fingerprint()))
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    send.write_all(b"not four gigabytes").await.unwrap();
    assert_eq!(
        read_frame(&mut recv, 64).await.unwrap().unwrap(),
        b"ERR too_large"
    );
    // A frame cut short is its own error.
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    send.write_all(&10u32.to_be_bytes()).await.unwrap();
    send.write_all(b"short").await.unwrap();
    send.finish().unwrap();
    assert_eq!(
        read_frame(&mut recv, 64).await.unwrap().unwrap(),
        b"ERR truncated"
    );
    // The connection still serves.
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    write_frame(&mut send, b"still here").await.unwrap();
    assert_eq!(
        read_frame(&mut recv, 64).await.unwrap().unwrap(),
        b"still here"
    );
    assert!(MAX_FRAME < u32::MAX as usize);
}

#[test]
fn the_identity_is_generated_once_and_kept_with_an_owner_only_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let first = ServerIdentity::load_or_generate(dir.path()).unwrap();
    let again = ServerIdentity::load_or_generate(dir.path()).unwrap();
    assert_eq!(first.fingerprint(), again.fingerprint());
    let mode = std::fs::metadata(dir.path().join("server-key.der"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        !format!("{first:?}").contains("BEGIN"),
        "no key material in Debug"
    );
}

#[test]
fn fingerprints_parse_in_the_printed_form_and_refuse_others() {
    let id = ServerIdentity::generate().unwrap();
    let text = id.fingerprint().to_string();
    assert!(text.starts_with("sha256:"));
    assert_eq!(Fingerprint::parse(&text).unwrap(), id.fingerprint());
    let colons: String = text.as_bytes()[7..]
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    assert_eq!(
        Fingerprint::parse(&colons.to_uppercase()).unwrap(),
        id.fingerprint()
    );
    for bad in ["", "sha256:", "sha256:zz", &text[..20]] {
        assert!(Fingerprint::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_half_missing_identity_is_an_error_not_a_new_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let id = ServerIdentity::load_or_generate(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join("server-key.der")).unwrap();
    let err = ServerIdentity::load_or_generate(dir.path()).unwrap_err();
    assert!(matches!(err, NetError::Certificate(_)), "{err:?}");
    assert!(
        !dir.path().join("server-key.der").exists(),
        "no new key was made"
    );
    drop(id);
}
