//! The zguide's "wuclient" (chapter 1): a SUB that subscribes to one zip
//! code's updates from the `weather_server` and averages their
//! temperatures.
//!
//! Run it: `cargo run -p monocoque --example weather_client [ZIP] [UPDATES] [ENDPOINT]`
//! (default zip 10001, 100 updates, `tcp://localhost:5556`) while
//! `weather_server` runs in another terminal. The server publishes every
//! zip code at random, so a hundred updates for one of them take about
//! ten million updates published: some 20 seconds in a debug build (run
//! both with `--release` to see how fast it goes).

use monocoque::{Context, SocketType};

/// What the client heard.
#[derive(Debug, PartialEq)]
pub(crate) struct Forecast {
    /// Updates received for the zip code.
    pub(crate) updates: usize,
    /// Their average temperature.
    pub(crate) average: f64,
    /// Updates received for another zip code (none: the filter works).
    pub(crate) strays: usize,
}

/// Collects `updates` updates for `zip` from `endpoint`.
pub(crate) fn run_client(
    ctx: &Context,
    endpoint: &str,
    zip: u32,
    updates: usize,
) -> monocoque::Result<Forecast> {
    let sub = ctx.socket(SocketType::Sub)?;
    sub.connect(endpoint)?;
    // The filter is a prefix of the message: the space keeps "10001"
    // from matching a longer code.
    let prefix = format!("{zip:05} ");
    sub.subscribe(&prefix)?;
    let mut forecast = Forecast {
        updates: 0,
        average: 0.0,
        strays: 0,
    };
    let mut total = 0i64;
    while forecast.updates < updates {
        let update = sub.recv()?;
        let text = String::from_utf8_lossy(&update[0]);
        let mut fields = text.split(' ');
        if fields.next() != Some(prefix.trim_end()) {
            forecast.strays += 1;
            continue;
        }
        let Some(temperature) = fields.next().and_then(|t| t.parse::<i64>().ok()) else {
            return Err(monocoque::Error::Invalid("an update without a temperature"));
        };
        total += temperature;
        forecast.updates += 1;
    }
    if updates > 0 {
        forecast.average = total as f64 / updates as f64;
    }
    Ok(forecast)
}

#[allow(dead_code)]
fn main() -> monocoque::Result<()> {
    let mut args = std::env::args().skip(1);
    let zip = args.next().and_then(|a| a.parse().ok()).unwrap_or(10001);
    let updates = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let endpoint = args.next().unwrap_or_else(|| "tcp://localhost:5556".into());
    println!("collecting {updates} updates for zip code {zip:05} from {endpoint}");
    let forecast = run_client(&Context::new(), &endpoint, zip, updates)?;
    println!(
        "average temperature for zip code {zip:05} was {:.1}F",
        forecast.average
    );
    Ok(())
}
