//! A partner on a real Kafka: its SCRAM credential, its door's ACLs and
//! its produce quota. With `--brokers`, `rfq partners` sets them itself
//! over the Kafka protocol ([`rfq_broker::admin`]: rdkafka's Rust API has
//! no calls for them); without, it prints Kafka's own commands, a pure
//! function of the door, the credential and the quota.

use rfq_broker::admin::Admin;
use rfq_core::{
    Door, Operation, Resource,
    auth::scram::{self, MECHANISM},
    kafka::KafkaSettings,
};

/// The bootstrap servers as the commands name them: the operator's shell
/// variable (with `--command-config` for the admin's own credentials).
const BOOTSTRAP: &str = "--bootstrap-server \"$KAFKA\" --command-config \"$KAFKA_ADMIN_CONFIG\"";

/// `(operations, resource flags)` of every ACL a partner gets: its door's
/// rights ([`Door::rights`], the list the embedded broker enforces and
/// [`rfq_broker::admin`] grants), nothing else.
fn acls(door: &Door) -> Vec<(String, String)> {
    door.rights()
        .into_iter()
        .map(|right| {
            let operations = right
                .operations
                .iter()
                .map(|operation| match operation {
                    Operation::Read => "--operation Read",
                    Operation::Write => "--operation Write",
                    Operation::Describe => "--operation Describe",
                })
                .collect::<Vec<_>>()
                .join(" ");
            let resource = match right.resource {
                Resource::Topic(name) => format!("--topic {name}"),
                Resource::Group(name) => format!("--group {name}"),
                Resource::GroupsUnder(prefix) => {
                    format!("--group {prefix} --resource-pattern-type prefixed")
                }
            };
            (operations, resource)
        })
        .collect()
}

/// Gives a partner its SCRAM credential, its door's ACLs and its produce
/// quota on the Kafka of `kafka` (authenticated as its settings say).
pub async fn apply_grant(
    kafka: &KafkaSettings,
    door: &Door,
    derived: &scram::Derived,
    produce_bytes_per_second: u64,
) -> anyhow::Result<()> {
    let mut admin = Admin::connect(kafka).await?;
    let user = door.partner().as_str();
    admin.set_scram(user, derived).await?;
    admin.grant(door, user).await?;
    #[allow(clippy::cast_precision_loss)]
    let rate = produce_bytes_per_second as f64;
    admin.set_produce_quota(user, Some(rate)).await
}

/// Replaces a partner's SCRAM credential on the Kafka of `kafka`.
pub async fn apply_rotation(
    kafka: &KafkaSettings,
    door: &Door,
    derived: &scram::Derived,
) -> anyhow::Result<()> {
    let mut admin = Admin::connect(kafka).await?;
    admin.set_scram(door.partner().as_str(), derived).await
}

/// Takes a partner's credential, ACLs and quota away on the Kafka of
/// `kafka`; how many ACLs there were.
pub async fn apply_revoke(kafka: &KafkaSettings, door: &Door) -> anyhow::Result<usize> {
    let mut admin = Admin::connect(kafka).await?;
    let user = door.partner().as_str();
    admin.delete_scram(user).await?;
    admin.set_produce_quota(user, None).await?;
    admin.revoke(user).await
}

fn user(door: &Door) -> String {
    format!("--entity-type users --entity-name {}", door.partner())
}

/// The commands that give a partner its Kafka identity, rights and quota:
/// the SCRAM credential (as a password, for `kafka-configs.sh`, and as the
/// salted password `kafka-storage.sh format --add-scram` takes on a new
/// KRaft cluster), the ACLs, and the produce quota.
pub fn grant(
    door: &Door,
    password: &str,
    derived: &scram::Derived,
    produce_bytes_per_second: u64,
) -> String {
    let partner = door.partner();
    let principal = format!("--allow-principal User:{partner}");
    let credential = &derived.credential;
    let mut lines = vec![
        "# export KAFKA=<bootstrap servers> KAFKA_ADMIN_CONFIG=<admin client properties>"
            .to_owned(),
        format!(
            "kafka-configs.sh {BOOTSTRAP} --alter --add-config '{MECHANISM}=[iterations={},password={password}]' {}",
            credential.iterations,
            user(door)
        ),
        format!(
            "# or, formatting a new KRaft cluster: kafka-storage.sh format ... --add-scram '{MECHANISM}=[name={partner},salt=\"{}\",saltedpassword=\"{}\",iterations={}]'",
            scram::base64(&credential.salt),
            scram::base64(&derived.salted_password),
            credential.iterations
        ),
    ];
    for (operations, resource) in acls(door) {
        lines.push(format!(
            "kafka-acls.sh {BOOTSTRAP} --add {principal} {operations} {resource}"
        ));
    }
    lines.push(format!(
        "kafka-configs.sh {BOOTSTRAP} --alter --add-config 'producer_byte_rate={produce_bytes_per_second}' {}",
        user(door)
    ));
    lines.join("\n")
}

/// The commands that take a partner's identity, rights and quota away.
pub fn revoke(door: &Door) -> String {
    let principal = format!("--allow-principal User:{}", door.partner());
    let mut lines = vec![
        "# export KAFKA=<bootstrap servers> KAFKA_ADMIN_CONFIG=<admin client properties>"
            .to_owned(),
        format!(
            "kafka-configs.sh {BOOTSTRAP} --alter --delete-config '{MECHANISM}' {}",
            user(door)
        ),
    ];
    for (operations, resource) in acls(door) {
        lines.push(format!(
            "kafka-acls.sh {BOOTSTRAP} --remove --force {principal} {operations} {resource}"
        ));
    }
    lines.push(format!(
        "kafka-configs.sh {BOOTSTRAP} --alter --delete-config 'producer_byte_rate' {}",
        user(door)
    ));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rfq_core::{PartnerName, auth::scram::ScramCredential};

    #[test]
    fn a_partner_gets_its_door_and_nothing_else() {
        let door = PartnerName::parse("acme").unwrap().door();
        let derived = ScramCredential::derive("pw", b"salt", 4096);
        let text = grant(&door, "pw", &derived, 1_048_576);
        let b = "--bootstrap-server \"$KAFKA\" --command-config \"$KAFKA_ADMIN_CONFIG\"";
        let expected = [
            format!(
                "kafka-configs.sh {b} --alter --add-config 'SCRAM-SHA-256=[iterations=4096,password=pw]' --entity-type users --entity-name acme"
            ),
            format!(
                "kafka-acls.sh {b} --add --allow-principal User:acme --operation Read --operation Describe --topic rfq.door.acme.rfqs"
            ),
            format!(
                "kafka-acls.sh {b} --add --allow-principal User:acme --operation Write --operation Describe --topic rfq.door.acme.answers"
            ),
            format!(
                "kafka-acls.sh {b} --add --allow-principal User:acme --operation Write --operation Describe --topic rfq.door.acme.heartbeats"
            ),
            format!(
                "kafka-acls.sh {b} --add --allow-principal User:acme --operation Read --operation Describe --group rfq.door.acme. --resource-pattern-type prefixed"
            ),
            format!(
                "kafka-configs.sh {b} --alter --add-config 'producer_byte_rate=1048576' --entity-type users --entity-name acme"
            ),
        ];
        let commands: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(commands, expected);
        // The salted form carries the credential's own bytes.
        let salted = scram::base64(&derived.salted_password);
        assert!(text.contains(&format!(
            "salt=\"{}\",saltedpassword=\"{salted}\"",
            scram::base64(b"salt")
        )));
        // Every grant has its removal, and nothing names another door.
        let removal = revoke(&door);
        assert_eq!(removal.matches("--remove --force").count(), 4);
        assert!(removal.contains("--delete-config 'SCRAM-SHA-256'"));
        assert!(removal.contains("--delete-config 'producer_byte_rate'"));
        for line in text.lines().chain(removal.lines()) {
            assert!(
                !line.contains("rfq.quotes") && !line.contains("rfq.requests"),
                "{line}"
            );
        }
    }
}
