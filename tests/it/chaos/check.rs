//! After a run: every accepted RFQ's result compared with the crash-free
//! model recomputed from the quotes topic, and a sample explained.

use super::{
    Report, Scenario,
    model::{self, Model},
};

/// RFQs of each scenario explained after its checks.
const SAMPLE: usize = 20;

impl Scenario {
    /// Recomputes the expected results from the quotes topic and compares.
    pub(super) async fn check(&self, report: &Report, accepted: &[rfq_core::CorrelationId]) {
        let model = Model::from_topic(
            &self.cluster.brokers,
            &self.cluster.registry_url,
            &self.cluster.quotes_topic,
        )
        .await;
        let differences = model::compare(&model, accepted, &self.client, &self.api).await;
        eprintln!(
            "chaos report: {report:?}\n  topic: {} records, {} RFQs, {} answers in time, {} late, {} duplicates, {} refused, {} deadline markers\n  compared {} RFQs: lost {}, duplicated {}, wrong close {}, wrong late {}, open {}, missing {}",
            model.records,
            model.rfqs.len(),
            model.accepted,
            model.late,
            model.duplicates,
            model.refused,
            model.ticks,
            differences.rfqs,
            differences.lost,
            differences.duplicated,
            differences.wrong_close,
            differences.wrong_late,
            differences.open,
            differences.missing,
        );
        assert!(
            differences.none(),
            "stored results differ from a crash-free run: {differences:#?}"
        );
        assert!(model.accepted > 0 && model.ticks > 0);
        assert!(differences.rfqs >= accepted.len());
        self.explain_sample(&model).await;
    }

    /// Explains a sample of the RFQs (closed by their deadline and by
    /// their rule, as `rfq explain` does, from the log and the store
    /// after the faults) and checks each agrees with the stored result
    /// and with the model.
    pub(super) async fn explain_sample(&self, model: &Model) {
        let topics = rfq_core::kafka::TopicSettings {
            quotes_topic: self.cluster.quotes_topic.clone(),
            providers_topic: self.cluster.providers_topic.clone(),
            ..Default::default()
        };
        let store = self.cluster.store_settings().open().await.unwrap();
        let explainer = rfq_explain::Explainer::new(
            rfq_core::kafka::KafkaSettings::new(self.cluster.brokers.clone()),
            topics.clone(),
            crate::helpers::codec_for(&self.cluster.registry_url, &topics),
            store,
        );
        let mut ids: Vec<_> = model.rfqs.iter().collect();
        ids.sort_by_key(|(id, _)| **id);
        let by_deadline = |deadline: bool| {
            ids.iter()
                .filter(move |(_, expected)| {
                    expected.closed.is_some_and(|(reason, _)| {
                        (reason == rfq_core::CloseReason::Deadline) == deadline
                    })
                })
                .take(SAMPLE / 2)
        };
        let sample: Vec<_> = by_deadline(true).chain(by_deadline(false)).collect();
        let deadline = by_deadline(true).count();
        assert!(
            deadline > 0 && sample.len() > deadline,
            "{deadline} of {}",
            sample.len()
        );
        let explained_count = sample.len();
        for (id, expected) in sample {
            let explained = explainer.explain(id).await.unwrap().unwrap();
            assert!(
                explained.agrees_with_store,
                "{id}: {:#?}\n{}",
                explained.differences,
                rfq_explain::text::render(&explained)
            );
            let close = explained
                .close
                .as_ref()
                .map(|close| (close.reason, close.at));
            let modelled = expected.closed.map(|(reason, at)| (reason.as_str(), at));
            assert_eq!(close, modelled, "{id}");
        }
        eprintln!(
            "chaos: explained {explained_count} RFQs ({deadline} closed by their deadline), each agreeing with the store and the model"
        );
    }
}
