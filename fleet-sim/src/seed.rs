//! `seed`: a fleet with package lists and a history to measure the history and
//! fleet pages against.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::api::{self, Api};
use crate::cli::SeedArgs;
use crate::error::RunError;
use crate::packages::ListShape;
use crate::proc_stats::Watch;
use crate::report::Report;
use crate::setup;
use crate::stats::Recorder;

/// Creates (or reuses) the servers, sends each its package list, then adds the
/// actions; reports the rate of the action cycles.
pub async fn run(args: &SeedArgs) -> Result<Report, RunError> {
    let url = api::parse_url(&args.server.url)?;
    let shape = ListShape::new(args.packages.packages, args.packages.security)?;
    let concurrency = usize::from(args.server.setup_concurrency);
    let http = api::http_client(usize::MAX);
    let api = Api::new(http.clone(), url, args.server.api_token.clone());
    api.check().await?;
    let servers = setup::ensure_servers(
        &api,
        &args.server.prefix,
        args.servers as usize,
        concurrency,
    )
    .await?;
    setup::send_lists(&api, &http, &servers, shape, concurrency).await?;
    tracing::info!(
        servers = servers.len(),
        "servers ready with their package lists"
    );
    let watch = Watch::start(args.output.server_pid)?;
    let rec = Recorder::default();
    let started = Instant::now();
    let seeded = setup::seed_actions(
        &api,
        &http,
        &servers,
        args.actions,
        args.concurrency as usize,
        args.failure_ratio,
        &rec,
    )
    .await?;
    let elapsed = started.elapsed();
    let usage = watch.finish().await;
    rec.count("actions_seeded", seeded);
    let settings = BTreeMap::from([
        ("servers".to_owned(), servers.len().to_string()),
        (
            "packages".to_owned(),
            format!("{} ({} security)", shape.size(), args.packages.security),
        ),
        ("actions".to_owned(), args.actions.to_string()),
        ("concurrency".to_owned(), args.concurrency.to_string()),
    ]);
    Ok(Report::new(
        "seed",
        settings,
        elapsed.as_secs_f64(),
        rec.snapshot(elapsed),
        usage,
    ))
}
