//! What a failed unit carries to the machine that runs its next attempt (DESIGN §10: a failure
//! is retried on another machine first): its attempts so far, as JSON in the store. The output
//! ranges stay behind (they name bytes of the other machine's log), and so does the node each
//! attempt ran on, which the carried JSON keeps for people reading the store. A batch's part
//! carries where its attempts left it (the items that did not pass, the testcases so far).

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::event::{AttemptDetail, Carried, PartLeft, Status};

#[derive(Serialize, Deserialize)]
struct Wire {
    attempts: u32,
    failed: Vec<String>,
    details: Vec<WireAttempt>,
    #[serde(default)]
    part: PartLeft,
}

#[derive(Serialize, Deserialize)]
struct WireAttempt {
    attempt: u32,
    worker: u32,
    /// Unix time, ms.
    start: u64,
    /// ms.
    duration: u64,
    status: String,
    exit_code: Option<i32>,
    signal: Option<i32>,
    message: Option<String>,
    /// The machine it ran on (older attempts keep the node they carried).
    #[serde(default)]
    node: String,
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `carried` as the store keeps it; attempts made here are marked as `node`'s. `earlier`: what
/// this unit carried when this machine claimed it (its attempts keep their nodes).
pub(crate) fn to_json(carried: &Carried, node: &str, earlier: Option<&str>) -> String {
    let before: Vec<WireAttempt> = earlier
        .and_then(|e| serde_json::from_str::<Wire>(e).ok())
        .map(|w| w.details)
        .unwrap_or_default();
    let details = carried
        .details
        .iter()
        .map(|d| WireAttempt {
            attempt: d.attempt,
            worker: d.worker,
            start: ms(d.start),
            duration: u64::try_from(d.duration.as_millis()).unwrap_or(u64::MAX),
            status: d.status.label().to_owned(),
            exit_code: d.exit_code,
            signal: d.signal,
            message: d.message.clone(),
            node: before
                .iter()
                .find(|b| b.attempt == d.attempt)
                .map_or_else(|| node.to_owned(), |b| b.node.clone()),
        })
        .collect();
    serde_json::to_string(&Wire {
        attempts: carried.attempts,
        failed: carried.failed.clone(),
        details,
        part: carried.part.clone(),
    })
    .unwrap_or_default()
}

/// What the store gave back; `None` when it is not what [`to_json`] wrote.
pub(crate) fn from_json(text: &str) -> Option<Carried> {
    let w: Wire = serde_json::from_str(text).ok()?;
    let details = w
        .details
        .into_iter()
        .map(|a| {
            let start = SystemTime::UNIX_EPOCH + Duration::from_millis(a.start);
            let duration = Duration::from_millis(a.duration);
            AttemptDetail {
                attempt: a.attempt,
                worker: a.worker,
                start,
                end: start + duration,
                duration,
                status: super::status_of(&a.status).unwrap_or(Status::Failed),
                exit_code: a.exit_code,
                signal: a.signal,
                message: a.message,
                output: None,
            }
        })
        .collect();
    Some(Carried {
        attempts: w.attempts,
        failed: w.failed,
        details,
        part: w.part,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_travel_without_their_output_and_keep_their_nodes_and_a_parts_items() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let detail = |attempt| AttemptDetail {
            attempt,
            worker: 2,
            start,
            end: start + Duration::from_millis(250),
            duration: Duration::from_millis(250),
            status: Status::Failed,
            exit_code: Some(3),
            signal: None,
            message: Some("exit code 3".into()),
            output: Some((10, 20)),
        };
        let case = crate::batch::case::TestCase {
            name: "test_it".into(),
            classname: Some("bad".into()),
            file: Some("bad.py".into()),
            line: None,
            time: Some(0.25),
            outcome: crate::batch::case::Outcome::Failed,
            message: Some("assert 1 == 2".into()),
            kind: None,
            text: Some("trace".into()),
            suite: None,
            suite_file: None,
            item: Some(1),
            share: 0.0,
            sliced: None,
            confirmed: None,
            attempts: 1,
            failed_before: None,
        };
        let first = Carried {
            attempts: 1,
            failed: vec!["exit code 3".into()],
            details: vec![detail(1)],
            part: PartLeft {
                items: Some(vec![1, 3]),
                skips: vec![(3, "test_hangs".into())],
                testcases: vec![case],
                ..PartLeft::default()
            },
        };
        let on_a = to_json(&first, "a", None);
        let back = from_json(&on_a).unwrap();
        assert_eq!(back.attempts, 1);
        assert_eq!(back.failed, ["exit code 3"]);
        // A part's next attempt knows which items to run and what its items found so far.
        assert_eq!(back.part, first.part);
        let mut want = detail(1);
        want.output = None;
        assert_eq!(back.details, [want]);
        // Machine b failed it too: attempt 1 stays a's.
        let mut second = back;
        second.attempts = 2;
        second.details.push(detail(2));
        let on_b = to_json(&second, "b", Some(&on_a));
        let nodes: Vec<String> = serde_json::from_str::<Wire>(&on_b)
            .unwrap()
            .details
            .into_iter()
            .map(|d| d.node)
            .collect();
        assert_eq!(nodes, ["a", "b"]);
        assert!(from_json("{\"attempts\": \"x\"}").is_none());
    }
}
