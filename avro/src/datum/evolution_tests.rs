//! Property: whatever a partner's schema of QuoteResponse drops, adds or
//! reorders, a quote is read as that quote or refused, and a decline as
//! that decline or refused; never one as the other.

use super::read;
use super::tests::{Written, answer, branch, ours, outcome, read_as_ours, write};
use crate::{Record, RecordType, Schemas};
use apache_avro::Schema;
use proptest::prelude::*;
use rfq_core::{Currency, Price, Reply};
use serde_json::{Value as Json, json};

/// Reads what a partner wrote with `writer` as `reader` (ours, edited).
fn read_as(reader: &Json, writer: &Json, written: &Written) -> Result<Record, crate::CodecError> {
    let (writer, body) = write(writer, written);
    let reader = Schema::parse_str(&reader.to_string()).unwrap();
    read(RecordType::QuoteResponse, &writer, &reader, &body)
}

#[test]
fn were_our_branches_reordered_a_quote_would_still_not_be_read_as_a_decline() {
    // Decline first: apache-avro alone takes a Quote for a Decline (its
    // reason has a default), even written with the same schema.
    let mut reordered = ours();
    outcome(&mut reordered).reverse();
    let quote = Written::Quote {
        price: 1237,
        currency: "EUR".into(),
        eta: 240,
    };
    let error = read_as(&reordered, &reordered, &quote).unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid Avro data: outcome: the writer's branch rfq.v1.Quote would be read as our \
         rfq.v1.Decline, an earlier branch that accepts it too, rather than as our \
         rfq.v1.Quote; refusing"
    );
}

#[test]
fn a_branch_renamed_under_an_alias_of_ours_reads() {
    let mut renamed = ours();
    branch(&mut renamed, "Decline")["name"] = json!("Refusal");
    let mut aliased = ours();
    branch(&mut aliased, "Decline")["aliases"] = json!(["rfq.v1.Refusal"]);
    // The same bytes as our Decline's, written with the renamed schema.
    let written = Written::Decline {
        reason: "busy".into(),
    };
    let (_, body) = write(&ours(), &written);
    let writer = Schema::parse_str(&renamed.to_string()).unwrap();
    let reader = Schema::parse_str(&aliased.to_string()).unwrap();
    assert_eq!(
        read(RecordType::QuoteResponse, &writer, &reader, &body).unwrap(),
        answer(Reply::Declined {
            reason: "busy".into()
        })
    );
    // Without the alias, refused.
    let ours = Schemas::get().schema(RecordType::QuoteResponse);
    assert!(read(RecordType::QuoteResponse, &writer, ours, &body).is_err());
}

/// A field a partner's branch may have: its name, type and a default.
type Candidate = (&'static str, &'static str, &'static str);

/// Our Quote's fields, then fields a partner may add (one of them
/// Decline's).
const QUOTE: [Candidate; 6] = [
    ("price_minor", r#""long""#, "0"),
    ("currency", r#""string""#, r#""EUR""#),
    ("pickup_eta_seconds", r#""int""#, "0"),
    ("vehicle", r#"["null", "string"]"#, "null"),
    ("reason", r#""string""#, r#""""#),
    ("seats", r#""int""#, "4"),
];

/// Our Decline's field, then fields a partner may add (Quote's among them:
/// with all three, apache-avro alone reads the decline as a quote).
const DECLINE: [Candidate; 5] = [
    ("reason", r#""string""#, r#""""#),
    ("price_minor", r#""long""#, "0"),
    ("currency", r#""string""#, r#""EUR""#),
    ("pickup_eta_seconds", r#""int""#, "0"),
    ("vehicle", r#"["null", "string"]"#, "null"),
];

/// Each candidate: 0 left out, 1 without a default, 2 with one.
fn presence(count: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0..3_u8, count)
}

/// The fields of a branch: the candidates present, in a shuffled order.
fn branch_fields(candidates: &[Candidate], presence: &[u8], order: &[usize]) -> Vec<Json> {
    order
        .iter()
        .filter(|index| presence[**index] > 0)
        .map(|index| {
            let (name, ty, default) = candidates[*index];
            let mut field =
                json!({"name": name, "type": serde_json::from_str::<Json>(ty).unwrap()});
            if presence[*index] == 2 {
                field["default"] = serde_json::from_str(default).unwrap();
            }
            field
        })
        .collect()
}

/// Whether the branch has all of our Quote's fields.
fn has_quotes_fields(candidates: &[Candidate], presence: &[u8]) -> bool {
    ["price_minor", "currency", "pickup_eta_seconds"]
        .iter()
        .all(|name| {
            candidates
                .iter()
                .zip(presence)
                .any(|((candidate, _, _), present)| candidate == name && *present > 0)
        })
}

fn written() -> impl Strategy<Value = Written> {
    prop_oneof![
        4 => (1_i64..=100_000_000, prop::sample::select(vec!["EUR", "USD", "GBP"]), 0_i32..100_000)
            .prop_map(|(price, currency, eta)| Written::Quote { price, currency: currency.to_owned(), eta }),
        4 => "[a-z ]{0,16}".prop_map(|reason| Written::Decline { reason }),
        1 => Just(Written::Null),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_partner_schema_never_turns_a_quote_into_a_decline_or_back(
        quote in presence(QUOTE.len()),
        quote_order in Just((0..QUOTE.len()).collect::<Vec<_>>()).prop_shuffle(),
        decline in presence(DECLINE.len()),
        decline_order in Just((0..DECLINE.len()).collect::<Vec<_>>()).prop_shuffle(),
        decline_first in any::<bool>(),
        null_at in prop::option::of(0_usize..3),
        written in written(),
    ) {
        let mut schema = ours();
        let branches = outcome(&mut schema);
        branches[0]["fields"] = Json::Array(branch_fields(&QUOTE, &quote, &quote_order));
        branches[1]["fields"] = Json::Array(branch_fields(&DECLINE, &decline, &decline_order));
        if decline_first {
            branches.reverse();
        }
        let null_branch = match null_at {
            Some(at) => {
                branches.insert(at.min(branches.len()), json!("null"));
                true
            }
            None => false,
        };
        if matches!(written, Written::Null) && !null_branch {
            return Ok(());
        }
        let read = read_as_ours(&schema, &written);
        match (&written, read) {
            (Written::Quote { price, currency, eta }, Ok(record)) => {
                let expected = answer(Reply::Quoted {
                    price: Price::new(*price, Currency::parse(currency).unwrap()).unwrap(),
                    pickup_eta_seconds: u32::try_from(*eta).unwrap(),
                });
                prop_assert_eq!(record, expected);
            }
            (Written::Quote { .. }, Err(error)) => {
                // Refused only when the partner's Quote lacks a field of ours.
                prop_assert!(!has_quotes_fields(&QUOTE, &quote), "{}", error);
                prop_assert!(error.to_string().contains("outcome: the writer's branch rfq.v1.Quote"), "{}", error);
            }
            (Written::Decline { reason }, Ok(record)) => {
                let reason = if decline[0] > 0 { reason.clone() } else { String::new() };
                prop_assert_eq!(record, answer(Reply::Declined { reason }));
            }
            (Written::Decline { .. }, Err(error)) => {
                // Refused only when apache-avro alone would read it as a quote.
                prop_assert!(has_quotes_fields(&DECLINE, &decline), "{}", error);
                prop_assert!(error.to_string().contains("outcome: the writer's branch rfq.v1.Decline"), "{}", error);
            }
            (Written::Null, read) => {
                prop_assert!(read.is_err(), "a null outcome read as {:?}", read.map(|r: Record| r));
            }
        }
    }
}
