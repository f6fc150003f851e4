//! The schedule engine on an injected clock, on the backend the test run asks for
//! (`HOMELAB_TEST_BACKEND`): firings across a daylight-saving change, a firing missed
//! while the dashboard was down, two replicas firing at once.

use homelab_protocol::{
    ActionSpec, ActionType, CronLine, LiveEvent, Millis, RunTarget, ScheduleName, ServerId,
    ServerName, Tag, ZoneName,
};

use super::testing::{clocked_nas, heartbeat, two_replicas};
use super::*;

/// Unix milliseconds of a UTC wall-clock time.
fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|day| day.and_hms_opt(h, min, 0))
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

const MINUTE: i64 = 60_000;

fn request(name: &str, cron: &str, target: RunTarget) -> ScheduleRequest {
    ScheduleRequest {
        name: ScheduleName::parse(name).unwrap(),
        cron: CronLine::parse(cron).unwrap(),
        timezone: ZoneName::parse("Europe/London").unwrap(),
        run: RunRequest::new(
            ActionSpec::parse(ActionType::AptUpdate, None).unwrap(),
            target,
        ),
    }
}

fn nas_only(nas: &ServerId) -> RunTarget {
    RunTarget::Servers(vec![nas.clone()])
}

fn started(fired: &[Fired]) -> Vec<(RunId, bool)> {
    fired
        .iter()
        .filter_map(|f| match f {
            Fired::Started { run, late, .. } => Some((*run, *late)),
            _ => None,
        })
        .collect()
}

use homelab_protocol::RunId;

#[tokio::test]
async fn a_nightly_schedule_fires_on_the_local_clock_across_the_spring_forward_change() {
    let (service, clock, nas, _token, _guard) = clocked_nas(utc(2026, 3, 27, 12, 0)).await;
    let schedule = service
        .create_schedule(request("nightly", "30 1 * * *", nas_only(&nas)), "admin")
        .await
        .unwrap();
    // 01:30 GMT on Saturday the 28th.
    assert_eq!(
        schedule.next_fire_at_ms,
        Some(Millis::new(utc(2026, 3, 28, 1, 30)))
    );
    assert_eq!(
        schedule.next_fire_local.as_deref(),
        Some("Sat 2026-03-28 01:30 GMT")
    );
    assert!(service.fire_due_schedules().await.unwrap().is_empty());

    clock.advance(utc(2026, 3, 28, 1, 30) - clock.now().get());
    let fired = service.fire_due_schedules().await.unwrap();
    let [(run, late)] = started(&fired)[..] else {
        panic!("{fired:?}")
    };
    assert!(!late);
    let run = service.run(run).await.unwrap();
    assert_eq!(run.created_by, "schedule:nightly");
    assert_eq!(run.schedule_id, Some(schedule.id));
    assert!(service.fire_due_schedules().await.unwrap().is_empty());

    // Sunday the 29th has no 01:30: it fires as the clock jumps to 02:00 BST.
    let schedule = service.schedule(schedule.id).await.unwrap();
    assert_eq!(
        schedule.next_fire_at_ms,
        Some(Millis::new(utc(2026, 3, 29, 1, 0)))
    );
    assert_eq!(
        schedule.next_fire_local.as_deref(),
        Some("Sun 2026-03-29 02:00 BST")
    );
    clock.advance(utc(2026, 3, 29, 1, 0) + 5_000 - clock.now().get());
    assert_eq!(
        started(&service.fire_due_schedules().await.unwrap()).len(),
        1
    );
    // Then 01:30 BST, 00:30 UTC.
    let schedule = service.schedule(schedule.id).await.unwrap();
    assert_eq!(
        schedule.next_fire_at_ms,
        Some(Millis::new(utc(2026, 3, 30, 0, 30)))
    );
    assert_eq!(service.runs(Some(schedule.id), 10).await.unwrap().len(), 2);
    let last = schedule.last_run.expect("a last run");
    assert!(!last.late);
}

#[tokio::test]
async fn the_repeated_hour_of_fall_back_fires_a_fixed_time_once() {
    let (service, clock, nas, _token, _guard) = clocked_nas(utc(2026, 10, 24, 12, 0)).await;
    let schedule = service
        .create_schedule(request("nightly", "30 1 * * *", nas_only(&nas)), "admin")
        .await
        .unwrap();
    // The first 01:30 (BST) of Sunday the 25th.
    assert_eq!(
        schedule.next_fire_at_ms,
        Some(Millis::new(utc(2026, 10, 25, 0, 30)))
    );
    clock.advance(utc(2026, 10, 25, 0, 30) - clock.now().get());
    assert_eq!(
        started(&service.fire_due_schedules().await.unwrap()).len(),
        1
    );
    // The second 01:30 (GMT) an hour later does not fire again.
    clock.advance(60 * MINUTE);
    assert!(service.fire_due_schedules().await.unwrap().is_empty());
    let schedule = service.schedule(schedule.id).await.unwrap();
    assert_eq!(
        schedule.next_fire_at_ms,
        Some(Millis::new(utc(2026, 10, 26, 1, 30)))
    );
}

#[tokio::test]
async fn a_firing_missed_while_the_dashboard_was_down_runs_once_at_start_up_recorded_late() {
    let (before, after, clock, _guard) = two_replicas(utc(2026, 5, 1, 12, 0)).await;
    let nas = ServerId::parse("nas").unwrap();
    before
        .add_server(nas.clone(), ServerName::parse("NAS").unwrap())
        .await
        .unwrap();
    let schedule = before
        .create_schedule(request("nightly", "0 3 * * *", nas_only(&nas)), "admin")
        .await
        .unwrap();
    // The dashboard is down from now for three nights and comes back at 09:00 BST on
    // the 4th: `after` is the dashboard started again.
    drop(before);
    clock.advance(utc(2026, 5, 4, 8, 0) - clock.now().get());
    let fired = after.fire_due_schedules().await.unwrap();
    let [(run, late)] = started(&fired)[..] else {
        panic!("one run for three missed firings: {fired:?}")
    };
    assert!(late);
    let run = after.run(run).await.unwrap();
    assert!(run.late);
    assert_eq!(run.created_by, "schedule:nightly");
    // Never run twice: the next pass has nothing to do, and the next firing is
    // tomorrow's.
    assert!(after.fire_due_schedules().await.unwrap().is_empty());
    let schedule = after.schedule(schedule.id).await.unwrap();
    assert_eq!(after.runs(Some(schedule.id), 10).await.unwrap().len(), 1);
    assert_eq!(
        schedule.next_fire_at_ms,
        Some(Millis::new(utc(2026, 5, 5, 2, 0)))
    );
    assert_eq!(
        schedule.last_fired_at_ms,
        Some(Millis::new(utc(2026, 5, 4, 2, 0)))
    );
    assert!(schedule.last_run.unwrap().late);
}

#[tokio::test]
async fn two_replicas_firing_the_same_schedule_at_once_start_one_run() {
    let (a, b, clock, _guard) = two_replicas(utc(2026, 6, 1, 0, 0)).await;
    let nas = ServerId::parse("nas").unwrap();
    a.add_server(nas.clone(), ServerName::parse("NAS").unwrap())
        .await
        .unwrap();
    let schedules = [
        a.create_schedule(request("one", "0 3 * * *", nas_only(&nas)), "admin")
            .await
            .unwrap(),
        a.create_schedule(request("two", "0 3 * * *", nas_only(&nas)), "admin")
            .await
            .unwrap(),
    ];
    clock.advance(utc(2026, 6, 1, 2, 0) - clock.now().get());
    for _ in 0..3 {
        let (fa, fb) = tokio::join!(a.fire_due_schedules(), b.fire_due_schedules());
        let mut fired = fa.unwrap();
        fired.extend(fb.unwrap());
        assert!(started(&fired).len() <= 2, "{fired:?}");
    }
    for schedule in &schedules {
        let runs = a.runs(Some(schedule.id), 10).await.unwrap();
        assert_eq!(runs.len(), 1, "{}", schedule.name);
        assert!(!runs[0].late);
        let seen = b.schedule(schedule.id).await.unwrap();
        assert_eq!(
            seen.next_fire_at_ms,
            Some(Millis::new(utc(2026, 6, 2, 2, 0)))
        );
    }
}

#[tokio::test]
async fn a_crash_between_starting_the_run_and_moving_on_does_not_fire_twice() {
    let (service, clock, nas, _token, _guard) = clocked_nas(utc(2026, 6, 1, 0, 0)).await;
    let schedule = service
        .create_schedule(request("nightly", "0 3 * * *", nas_only(&nas)), "admin")
        .await
        .unwrap();
    let at = schedule.next_fire_at_ms.unwrap();
    clock.advance(at.get() - clock.now().get());
    // The run of this firing started, then the process died before the watermark
    // moved.
    let firing = Firing {
        schedule: schedule.id,
        at,
        late: false,
    };
    let run = RunRequest::new(
        ActionSpec::parse(ActionType::AptUpdate, None).unwrap(),
        nas_only(&nas),
    );
    service
        .start_run_for_firing(run, "schedule:nightly", firing)
        .await
        .unwrap()
        .expect("the first start");
    let fired = service.fire_due_schedules().await.unwrap();
    assert_eq!(
        fired,
        [Fired::AlreadyStarted {
            schedule: schedule.id
        }]
    );
    assert_eq!(service.runs(Some(schedule.id), 10).await.unwrap().len(), 1);
    assert!(service.schedule(schedule.id).await.unwrap().next_fire_at_ms > Some(at));
}

#[tokio::test]
async fn a_firing_that_cannot_start_a_run_is_recorded_and_the_schedule_goes_on() {
    let (service, clock, nas, token, _guard) = clocked_nas(utc(2026, 6, 1, 0, 0)).await;
    service
        .heartbeat(&token, heartbeat(None))
        .await
        .expect("a heartbeat");
    let lab = Tag::parse("lab").unwrap();
    let schedule = service
        .create_schedule(
            request("lab nightly", "0 3 * * *", RunTarget::Tag(lab.clone())),
            "admin",
        )
        .await
        .unwrap();
    clock.advance(schedule.next_fire_at_ms.unwrap().get() - clock.now().get());
    let fired = service.fire_due_schedules().await.unwrap();
    let [Fired::Skipped { reason, .. }] = &fired[..] else {
        panic!("{fired:?}")
    };
    assert!(
        reason.contains("no server carries the tag `lab`"),
        "{reason}"
    );
    let seen = service.schedule(schedule.id).await.unwrap();
    assert_eq!(seen.last_skipped.as_deref(), Some(reason.as_str()));
    assert!(seen.last_run.is_none());
    assert_eq!(
        seen.next_fire_at_ms,
        Some(Millis::new(utc(2026, 6, 2, 2, 0)))
    );

    // Once a server carries the tag, the next firing runs on it and clears the note.
    service.set_tags(&nas, vec![lab], "admin").await.unwrap();
    clock.advance(24 * 60 * MINUTE);
    assert_eq!(
        started(&service.fire_due_schedules().await.unwrap()).len(),
        1
    );
    let seen = service.schedule(schedule.id).await.unwrap();
    assert_eq!(seen.last_skipped, None);
    assert!(seen.last_run.is_some());
}

#[tokio::test]
async fn schedules_refuse_what_cannot_be_and_names_are_unique() {
    let (service, clock, nas, _token, _guard) = clocked_nas(utc(2026, 6, 1, 0, 0)).await;
    let field = |e: Error| match e {
        Error::Invalid { field, .. } => field,
        other => panic!("{other:?}"),
    };
    let mut reboot = request("r", "0 3 * * *", nas_only(&nas));
    // A reboot follows an upgrade only; this schedule refreshes package lists.
    reboot.run.reboot_if_required = true;
    assert_eq!(
        field(service.create_schedule(reboot, "admin").await.unwrap_err()),
        "reboot_if_required"
    );
    let never = request("n", "0 0 30 2 *", nas_only(&nas));
    assert_eq!(
        field(service.create_schedule(never, "admin").await.unwrap_err()),
        "cron"
    );
    let mut mars = request("m", "0 3 * * *", nas_only(&nas));
    mars.timezone = ZoneName::parse("Mars/Olympus").unwrap();
    assert_eq!(
        field(service.create_schedule(mars, "admin").await.unwrap_err()),
        "timezone"
    );
    let ghost = request(
        "g",
        "0 3 * * *",
        RunTarget::Servers(vec![ServerId::parse("ghost").unwrap()]),
    );
    assert_eq!(
        field(service.create_schedule(ghost, "admin").await.unwrap_err()),
        "servers"
    );
    let mut huge = request("h", "0 3 * * *", nas_only(&nas));
    huge.run.batch_size = 0;
    assert_eq!(
        field(service.create_schedule(huge, "admin").await.unwrap_err()),
        "batch_size"
    );

    let first = service
        .create_schedule(request("nightly", "0 3 * * *", nas_only(&nas)), "admin")
        .await
        .unwrap();
    assert!(matches!(
        service
            .create_schedule(request("nightly", "0 4 * * *", nas_only(&nas)), "admin")
            .await,
        Err(Error::Conflict { .. })
    ));
    let other = service
        .create_schedule(request("weekly", "0 4 * * SUN", nas_only(&nas)), "admin")
        .await
        .unwrap();
    assert!(matches!(
        service
            .update_schedule(
                other.id,
                request("nightly", "0 4 * * *", nas_only(&nas)),
                "admin"
            )
            .await,
        Err(Error::Conflict { .. })
    ));

    // A change counts the next firing again, from now.
    clock.advance(4 * 60 * MINUTE);
    let changed = service
        .update_schedule(
            first.id,
            request("nightly", "15 4 * * *", nas_only(&nas)),
            "admin",
        )
        .await
        .unwrap();
    assert_eq!(
        changed.next_fire_at_ms,
        Some(Millis::new(utc(2026, 6, 2, 3, 15)))
    );
    assert_eq!(changed.cron.as_str(), "15 4 * * *");
    let names: Vec<String> = service
        .schedules()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["nightly", "weekly"]);

    service.delete_schedule(first.id, "admin").await.unwrap();
    assert!(matches!(
        service.schedule(first.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        service.delete_schedule(first.id, "admin").await,
        Err(Error::NotFound(_))
    ));
}

/// The schedules page follows live: creating, editing, deleting and firing a
/// schedule each announce that the schedules changed (a refused one announces
/// nothing).
#[tokio::test]
async fn every_change_to_the_schedules_is_announced_to_open_pages() {
    let (service, clock, nas, _token, _guard) = clocked_nas(utc(2026, 6, 1, 12, 0)).await;
    let mut events = service.subscribe();
    let schedules = |events: &mut LiveReceiver| {
        events
            .drain_now()
            .into_iter()
            .filter(|e| *e == LiveEvent::Schedules)
            .count()
    };
    let schedule = service
        .create_schedule(request("nightly", "0 3 * * *", nas_only(&nas)), "admin")
        .await
        .unwrap();
    assert_eq!(schedules(&mut events), 1, "created");
    service
        .create_schedule(request("nightly", "0 4 * * *", nas_only(&nas)), "admin")
        .await
        .unwrap_err();
    assert_eq!(schedules(&mut events), 0, "a refused duplicate");
    service
        .update_schedule(
            schedule.id,
            request("nightly", "0 2 * * *", nas_only(&nas)),
            "admin",
        )
        .await
        .unwrap();
    assert_eq!(schedules(&mut events), 1, "edited");
    clock.advance(utc(2026, 6, 2, 2, 0) - clock.now().get());
    assert_eq!(service.fire_due_schedules().await.unwrap().len(), 1);
    assert_eq!(schedules(&mut events), 1, "fired");
    service.delete_schedule(schedule.id, "admin").await.unwrap();
    assert_eq!(schedules(&mut events), 1, "deleted");
}
