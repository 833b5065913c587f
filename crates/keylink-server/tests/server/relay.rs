//! The relay pairs two connections and forwards frames; expired and reused
//! channels are refused.

use std::time::Duration;

use keylink_net::{read_frame, write_frame};
use keylink_wire::Wire;
use keylink_wire::server::{FailureCode, Request, Response};

use crate::support::{config, start};

async fn open(
    c: &keylink_server::ServerClient,
) -> ([u8; 16], keylink_net::SendHalf, keylink_net::RecvHalf) {
    let (mut send, mut recv) = c.connection().open_bi().await.unwrap();
    write_frame(&mut send, &Request::RelayOpen.encode())
        .await
        .unwrap();
    let frame = read_frame(&mut recv, 1024).await.unwrap().unwrap();
    let Response::Channel { channel, .. } = Response::decode(&frame).unwrap() else {
        panic!("channel expected")
    };
    (channel, send, recv)
}

async fn join(
    c: &keylink_server::ServerClient,
    channel: [u8; 16],
) -> Result<(keylink_net::SendHalf, keylink_net::RecvHalf), FailureCode> {
    let (mut send, mut recv) = c.connection().open_bi().await.unwrap();
    write_frame(&mut send, &Request::RelayJoin { channel }.encode())
        .await
        .unwrap();
    let frame = read_frame(&mut recv, 1024).await.unwrap().unwrap();
    match Response::decode(&frame).unwrap() {
        Response::Done { .. } => Ok((send, recv)),
        Response::Failure { code, .. } => Err(code),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn the_relay_pairs_two_connections_and_forwards_frames() {
    let h = start(config()).await;
    let (a, b) = (h.client().await, h.client().await);
    let (channel, mut a_send, mut a_recv) = open(&a).await;
    let (mut b_send, mut b_recv) = join(&b, channel).await.unwrap();
    for i in 0..20u8 {
        write_frame(&mut a_send, &[i; 100]).await.unwrap();
        assert_eq!(
            read_frame(&mut b_recv, 1 << 16).await.unwrap().unwrap(),
            vec![i; 100]
        );
        write_frame(&mut b_send, &[i, i]).await.unwrap();
        assert_eq!(
            read_frame(&mut a_recv, 1 << 16).await.unwrap().unwrap(),
            vec![i, i]
        );
    }
    // One side ends: the other's stream ends too.
    a_send.finish().unwrap();
    assert!(read_frame(&mut b_recv, 1 << 16).await.unwrap().is_none());
}

#[tokio::test]
async fn a_reused_or_expired_channel_is_refused() {
    let h = start(config()).await;
    let (a, b, c) = (h.client().await, h.client().await, h.client().await);
    let (channel, _a_send, _a_recv) = open(&a).await;
    let _joined = join(&b, channel).await.unwrap();
    assert_eq!(
        join(&c, channel).await.unwrap_err(),
        FailureCode::ChannelUnavailable,
        "single use"
    );
    let (expiring, _s, _r) = open(&a).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        join(&b, expiring).await.unwrap_err(),
        FailureCode::ChannelUnavailable,
        "expired"
    );
    assert_eq!(
        join(&b, [0; 16]).await.unwrap_err(),
        FailureCode::ChannelUnavailable,
        "unknown"
    );
}

/// A paired channel forwards at most 16 MiB; then both sides are closed.
#[tokio::test]
async fn a_paired_channel_has_a_byte_budget() {
    let h = start(config()).await;
    let (a, b) = (h.client().await, h.client().await);
    let (channel, mut a_send, _a_recv) = open(&a).await;
    let (_b_send, mut b_recv) = join(&b, channel).await.unwrap();
    let writer = tokio::spawn(async move {
        let frame = vec![7u8; 60_000];
        for _ in 0..400 {
            if write_frame(&mut a_send, &frame).await.is_err() {
                break;
            }
        }
    });
    let mut received = 0usize;
    while let Ok(Ok(Some(f))) =
        tokio::time::timeout(Duration::from_secs(5), read_frame(&mut b_recv, 1 << 16)).await
    {
        received += f.len();
    }
    assert!(received <= 16 << 20, "forwarded {received} bytes");
    assert!(
        received >= 15 << 20,
        "the budget is not hit early ({received} bytes)"
    );
    writer.abort();
}
