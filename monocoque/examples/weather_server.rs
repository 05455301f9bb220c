//! The zguide's "wuserver" (chapter 1): a PUB that publishes made-up
//! weather updates, "ZIP TEMPERATURE HUMIDITY", for every zip code, as
//! fast as it can. Subscribers pick the zip codes they want; the PUB sends
//! each of them only what they subscribed to and drops the rest.
//!
//! Run it: `cargo run -p monocoque --example weather_server [ENDPOINT]`
//! (default `tcp://*:5556`), then `weather_client` in another terminal.
//! It publishes until stopped (Ctrl-C).

use std::ops::Range;

use monocoque::{Context, Error, Socket, SocketType};

/// Every five-digit zip code.
pub(crate) const ZIPS: Range<u32> = 0..100_000;

/// A small xorshift generator: weather needs no better randomness.
#[derive(Debug)]
pub(crate) struct Dice(u64);

impl Dice {
    /// Seeded from the clock, a different weather each run.
    pub(crate) fn from_clock() -> Dice {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Dice(nanos | 1)
    }

    /// A number in `range`.
    pub(crate) fn roll(&mut self, range: Range<u32>) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        range.start + (self.0 % u64::from(range.end - range.start)) as u32
    }
}

/// Publishes updates for the zip codes in `zips` on `publisher` until its
/// context shuts down; how many it published.
pub(crate) fn run_server(publisher: &Socket, zips: Range<u32>) -> monocoque::Result<u64> {
    let mut dice = Dice::from_clock();
    let mut published = 0;
    loop {
        let zip = dice.roll(zips.clone());
        let temperature = i64::from(dice.roll(0..215)) - 80;
        let humidity = dice.roll(10..60);
        // A PUB never blocks: an update nobody subscribed to (or one a
        // slow subscriber has no room for) is dropped here.
        match publisher.send(format!("{zip:05} {temperature} {humidity}")) {
            Ok(()) => published += 1,
            Err(Error::Terminated) => return Ok(published),
            Err(e) => return Err(e),
        }
    }
}

#[allow(dead_code)]
fn main() -> monocoque::Result<()> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "tcp://*:5556".into());
    let ctx = Context::new();
    let publisher = ctx.socket(SocketType::Pub)?;
    publisher.bind(&endpoint)?;
    println!(
        "publishing weather on {}",
        publisher.last_endpoint().unwrap_or(endpoint)
    );
    run_server(&publisher, ZIPS)?;
    Ok(())
}
