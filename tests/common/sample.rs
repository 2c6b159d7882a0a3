//! Random events for the exact-delivery tests that compare what a peer
//! recorded (`peers::Call`) with what was sent.

use flume_client::{Client, Error, EventView};

use crate::peers::Call;

/// An owned event: body and sorted headers.
pub type Sent = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>);

/// What `sample` makes: a tenth of the bodies empty, a tenth of `large` bytes,
/// the rest below `small_max`; besides `seq` (the index), one header
/// `{key_prefix}N` (N below `keys`) = `value`.
pub struct Shape {
    pub large: usize,
    pub small_max: u64,
    pub key_prefix: &'static str,
    pub keys: u64,
    pub value: &'static str,
}

/// `count` events of `shape`, the same for the same `seed`.
pub fn sample(count: usize, seed: u64, shape: &Shape) -> Vec<Sent> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..count)
        .map(|i| {
            let len = match next() % 10 {
                0 => 0,
                1 => shape.large,
                _ => (next() % shape.small_max) as usize,
            };
            let body: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut headers = vec![
                (b"seq".to_vec(), i.to_string().into_bytes()),
                (format!("{}{}", shape.key_prefix, next() % shape.keys).into_bytes(), shape.value.as_bytes().to_vec()),
            ];
            headers.sort();
            (body, headers)
        })
        .collect()
}

/// Sends `events` with one `append_batch`; on success all were acknowledged.
pub fn send(client: &Client, events: &[Sent]) -> Result<(), Error> {
    let headers: Vec<Vec<(&[u8], &[u8])>> =
        events.iter().map(|(_, h)| h.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect()).collect();
    let batch: Vec<EventView> = events.iter().zip(&headers).map(|((body, _), h)| EventView::new(h, body)).collect();
    client.append_batch(&batch).map_err(Error::from)
}

/// Every event the peer recorded, in order.
pub fn all_events(calls: &[Call]) -> Vec<Sent> {
    calls.iter().flat_map(|call| &call.events).map(|e| (e.body.clone(), e.headers.clone())).collect()
}
