//! Frame encoding and decoding: the per-message CPU cost on both sides of every stream.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use quicq_common::frame::{decode, encode};
use quicq_common::protocol::{Address, ChatMessage, ClientFrame, ServerFrame};
use std::hint::black_box;

fn frames(c: &mut Criterion) {
    let send = ClientFrame::Send {
        client_id: "5b0c9a4e-2f71-4c1e-9d2a-8e3f6a7b1c20".into(),
        to: Address::User("bob".into()),
        text: "Morning! Is the server up again? 服务器恢复了吗？".into(),
        reply_to: None,
    };
    let delivery = ServerFrame::Message(ChatMessage {
        id: 1_234_567,
        from: "alice".into(),
        to: Address::everyone(),
        text: "x".repeat(400),
        at: 1_795_657_178_262,
        file: None,
        ..Default::default()
    });
    let send_bytes = encode(&send);
    let delivery_bytes = encode(&delivery);
    c.bench_function("encode send", |b| b.iter(|| encode(black_box(&send))));
    c.bench_function("decode send", |b| {
        b.iter(|| decode::<ClientFrame>(black_box(&send_bytes)).unwrap().unwrap())
    });
    c.bench_function("encode message (400 chars)", |b| b.iter(|| encode(black_box(&delivery))));
    c.bench_function("decode message (400 chars)", |b| {
        b.iter(|| decode::<ServerFrame>(black_box(&delivery_bytes)).unwrap().unwrap())
    });
}

criterion_group!(benches, frames);
criterion_main!(benches);
