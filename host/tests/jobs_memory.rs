//! The job engine's memory stays bounded by the jobs in flight: a finished
//! job leaves the in-memory map after its retention, and `status` and
//! `result` then answer from its record on disk, unchanged.

mod common;

use common::harness;
use easel::jobs::{GenerateSpec, JobStatus, Jobs, Outcome};
use easel::request::Settings;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_leave_memory_after_their_retention_and_status_then_reads_the_disk() {
    let h = harness("").await;
    let retention = Duration::from_millis(1000);
    let jobs =
        Jobs::with_retention(h.jobs.registry().clone(), h.jobs.store().clone(), h.jobs.inputs().clone(), retention);

    let mut finished = Vec::new();
    for n in 0..12 {
        let spec = GenerateSpec {
            prompt: format!("kept on disk {n}"),
            settings: Settings { width: Some(64), height: Some(64), ..Settings::default() },
            ..GenerateSpec::default()
        };
        match jobs.generate(spec, easel::jobs::Requester::cli(), None, Duration::from_secs(30)).await {
            Ok(Outcome::Done { job, images }) => finished.push((job.id, images[0].sidecar.id.clone())),
            Ok(Outcome::Pending { .. }) => panic!("the placeholder did not finish"),
            Err(e) => panic!("the placeholder failed: {e}"),
        }
    }
    assert!(jobs.live_count() > 0, "a job that just ended is still answered from memory");

    let deadline = Instant::now() + Duration::from_secs(20);
    while jobs.live_count() > 0 {
        assert!(Instant::now() < deadline, "{} finished jobs are still held in memory", jobs.live_count());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for (job_id, image_id) in &finished {
        let record = jobs.status(job_id).unwrap_or_else(|e| panic!("status of {job_id} after it left memory: {e}"));
        assert_eq!(record.status, JobStatus::Succeeded);
        assert_eq!(&record.images, &vec![image_id.clone()]);
        match jobs.result(job_id) {
            Ok(Outcome::Done { images, .. }) => assert_eq!(&images[0].sidecar.id, image_id),
            Ok(Outcome::Pending { .. }) => panic!("{job_id} reads as pending from disk"),
            Err(e) => panic!("result of {job_id} from disk: {e}"),
        }
    }
}
