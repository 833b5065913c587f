//! Hostile clients get a refusal or a closed stream, and the server keeps
//! serving others.

use std::time::Duration;

use keylink_net::{read_frame, write_frame};
use keylink_wire::Wire;
use keylink_wire::server::{FailureCode, Request, Response};

use crate::support::{Account, config, start};

async fn still_serves(h: &crate::support::Harness, acct: &Account) {
    let c = h.client().await;
    assert!(!c.fetch_log(&acct.id, 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_frame_length_of_2_pow_32_minus_1_is_refused() {
    let h = start(config()).await;
    let acct = Account::create(&h, 10).await;
    let c = h.client().await;
    let (mut send, mut recv) = c.connection().open_bi().await.unwrap();
    send.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    let frame = read_frame(&mut recv, 1 << 16).await.unwrap().unwrap();
    let Response::Failure { code, .. } = Response::decode(&frame).unwrap() else {
        panic!()
    };
    assert_eq!(code, FailureCode::BadRequest);
    still_serves(&h, &acct).await;
}

#[tokio::test]
async fn garbage_instead_of_a_request_is_refused() {
    let h = start(config()).await;
    let acct = Account::create(&h, 11).await;
    let c = h.client().await;
    for garbage in [
        &b"\xff\xff\xff\xff\xff"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        &[0x08, 0x02],
    ] {
        let (mut send, mut recv) = c.connection().open_bi().await.unwrap();
        write_frame(&mut send, garbage).await.unwrap();
        send.finish().unwrap();
        let frame = read_frame(&mut recv, 1 << 16).await.unwrap().unwrap();
        assert!(matches!(
            Response::decode(&frame).unwrap(),
            Response::Failure {
                code: FailureCode::BadRequest,
                ..
            }
        ));
    }
    still_serves(&h, &acct).await;
}

#[tokio::test]
async fn a_slow_sender_is_dropped() {
    let h = start(config()).await;
    let acct = Account::create(&h, 12).await;
    let c = h.client().await;
    let (mut send, mut recv) = c.connection().open_bi().await.unwrap();
    send.write_all(&100u32.to_be_bytes()).await.unwrap();
    send.write_all(b"a few bytes, then silence").await.unwrap();
    // The server gives up on the stream after its request timeout.
    let r = tokio::time::timeout(Duration::from_secs(5), read_frame(&mut recv, 1024))
        .await
        .unwrap();
    assert!(r.is_err() || r.unwrap().is_none());
    still_serves(&h, &acct).await;
}

#[tokio::test]
async fn a_flood_of_streams_is_bounded_and_others_are_served() {
    let h = start(config()).await;
    let acct = Account::create(&h, 13).await;
    let c = h.client().await;
    // Open far more streams than allowed, sending nothing on them.
    let mut held = Vec::new();
    let mut opened = 0;
    for _ in 0..200 {
        match tokio::time::timeout(Duration::from_millis(50), c.connection().open_bi()).await {
            Ok(Ok((mut s, r))) => {
                let _ = s.write_all(&[0]).await;
                held.push((s, r));
                opened += 1;
            }
            _ => break,
        }
    }
    assert!(opened <= 32 + 1, "opened {opened} streams; the limit is 32");
    still_serves(&h, &acct).await;
    drop(held);
    let _ = Request::RelayOpen.encode();
}

/// Datagrams that are not QUIC (or QUIC with a garbage payload) are ignored,
/// and the server keeps serving.
#[tokio::test]
async fn garbage_datagrams_are_ignored() {
    let h = start(config()).await;
    let acct = Account::create(&h, 14).await;
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut x: u32 = 0x1234_5678;
    for i in 0..2000usize {
        let mut packet = vec![0u8; 1 + i % 1400];
        for b in packet.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        if i % 3 == 0 {
            packet[0] = 0xc0; // looks like a QUIC long header
        }
        sock.send_to(&packet, h.addr).unwrap();
    }
    still_serves(&h, &acct).await;
}

/// A client that speaks another protocol (wrong ALPN) gets no connection.
#[tokio::test]
async fn another_alpn_is_refused() {
    let h = start(config()).await;
    let acct = Account::create(&h, 15).await;
    let mut tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(std::sync::Arc::new(AnyCert))
    .with_no_client_auth();
    tls.alpn_protocols = vec![b"h3".to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let ep = keylink_net::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    let r = ep
        .connect_with(
            quinn::ClientConfig::new(std::sync::Arc::new(quic)),
            h.addr,
            "keylink-server",
        )
        .unwrap()
        .await;
    assert!(r.is_err(), "a connection without ALPN keylink/1 must fail");
    still_serves(&h, &acct).await;
}

#[derive(Debug)]
struct AnyCert;

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
