//! The registry's state, free of I/O: subjects, their versions, global
//! schema ids and compatibility levels. Every change is an [`Event`]; the
//! state is the fold of the events, so replaying the log of events (the
//! schemas topic) after a restart rebuilds it exactly.

use crate::{Level, RegistryError};
use apache_avro::{
    Schema,
    schema_compatibility::{Compatibility, SchemaCompatibility},
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// One change, as written to the schemas topic (Confluent's `_schemas`
/// shapes: the key says what, the value says how).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "keytype", rename_all = "UPPERCASE")]
pub enum Event {
    /// A schema registered under a subject as a new version.
    Schema {
        /// The subject.
        subject: String,
        /// Its new version.
        version: u32,
        /// The global id of the schema.
        id: u32,
        /// The schema, in the registry's canonical rendering.
        schema: String,
    },
    /// A compatibility level set (`subject: None`: the global one).
    Config {
        /// The subject, or none for the global level.
        subject: Option<String>,
        /// The level.
        #[serde(rename = "compatibilityLevel")]
        level: Level,
    },
}

/// A version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Its number, from 1.
    pub version: u32,
    /// The schema's global id.
    pub id: u32,
}

/// Which version a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    /// A number.
    Number(u32),
    /// `latest` (or `-1`).
    Latest,
}

impl VersionSpec {
    /// Parses a path segment: a positive number, `latest` or `-1`.
    pub fn parse(text: &str) -> Result<VersionSpec, RegistryError> {
        match text {
            "latest" | "-1" => Ok(VersionSpec::Latest),
            number => number
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=i32::MAX as u32).contains(n))
                .map(VersionSpec::Number)
                .ok_or_else(|| RegistryError::InvalidVersion(text.to_owned())),
        }
    }
}

/// What registering a schema under a subject comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// The subject already has this schema: nothing to write.
    Existing(Version),
    /// A new version: write this event, then apply it.
    New(Event),
}

/// Parses a schema text and renders it the registry's one way (compact
/// JSON of the parsed schema, docs, defaults and logical types kept), which
/// decides when two texts are the same schema.
pub fn canonical(text: &str) -> Result<(Schema, String), RegistryError> {
    let schema =
        Schema::parse_str(text).map_err(|e| RegistryError::InvalidSchema(e.to_string()))?;
    let rendered =
        serde_json::to_string(&schema).map_err(|e| RegistryError::InvalidSchema(e.to_string()))?;
    Ok((schema, rendered))
}

/// The state.
#[derive(Debug, Default)]
pub struct Schemas {
    /// Schema text (canonical) by global id.
    by_id: BTreeMap<u32, String>,
    /// Global id by canonical text.
    ids: HashMap<String, u32>,
    /// Versions of each subject, ascending.
    subjects: BTreeMap<String, Vec<Version>>,
    /// The global level (BACKWARD unless set).
    global: Level,
    /// Levels set per subject.
    levels: BTreeMap<String, Level>,
}

impl Schemas {
    /// Applies one event (idempotent: a replayed event changes nothing).
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Schema {
                subject,
                version,
                id,
                schema,
            } => {
                self.by_id.entry(*id).or_insert_with(|| schema.clone());
                self.ids.entry(schema.clone()).or_insert(*id);
                let versions = self.subjects.entry(subject.clone()).or_default();
                if !versions.iter().any(|v| v.version == *version) {
                    versions.push(Version {
                        version: *version,
                        id: *id,
                    });
                    versions.sort_by_key(|v| v.version);
                }
            }
            Event::Config {
                subject: None,
                level,
            } => self.global = *level,
            Event::Config {
                subject: Some(subject),
                level,
            } => {
                self.levels.insert(subject.clone(), *level);
            }
        }
    }

    /// What registering `text` under `subject` comes to: the existing
    /// version, or a new one (checked against the subject's level).
    pub fn register(&self, subject: &str, text: &str) -> Result<Registration, RegistryError> {
        let (schema, rendered) = canonical(text)?;
        if let Some(existing) = self.find(subject, &rendered) {
            return Ok(Registration::Existing(existing));
        }
        self.check(subject, VersionSpec::Latest, &schema, true)?;
        let id = match self.ids.get(&rendered) {
            Some(id) => *id,
            None => self.by_id.keys().next_back().map_or(1, |last| last + 1),
        };
        let version = self
            .subjects
            .get(subject)
            .and_then(|versions| versions.last())
            .map_or(1, |last| last.version + 1);
        Ok(Registration::New(Event::Schema {
            subject: subject.to_owned(),
            version,
            id,
            schema: rendered,
        }))
    }

    /// The version of `subject` holding `text`.
    pub fn lookup(&self, subject: &str, text: &str) -> Result<Version, RegistryError> {
        let (_, rendered) = canonical(text)?;
        if !self.subjects.contains_key(subject) {
            return Err(RegistryError::SubjectNotFound(subject.to_owned()));
        }
        self.find(subject, &rendered)
            .ok_or_else(|| RegistryError::SchemaNotFound(format!("under subject {subject}")))
    }

    fn find(&self, subject: &str, rendered: &str) -> Option<Version> {
        let id = self.ids.get(rendered)?;
        self.subjects
            .get(subject)?
            .iter()
            .find(|v| v.id == *id)
            .copied()
    }

    /// The schema of a global id.
    pub fn schema(&self, id: u32) -> Result<&str, RegistryError> {
        self.by_id
            .get(&id)
            .map(String::as_str)
            .ok_or_else(|| RegistryError::SchemaNotFound(id.to_string()))
    }

    /// Every subject, sorted.
    pub fn subjects(&self) -> Vec<&str> {
        self.subjects.keys().map(String::as_str).collect()
    }

    /// The subjects and versions holding a global id.
    pub fn uses(&self, id: u32) -> Vec<(&str, u32)> {
        self.subjects
            .iter()
            .flat_map(|(subject, versions)| {
                versions
                    .iter()
                    .filter(move |v| v.id == id)
                    .map(move |v| (subject.as_str(), v.version))
            })
            .collect()
    }

    /// The versions of a subject.
    pub fn versions(&self, subject: &str) -> Result<&[Version], RegistryError> {
        self.subjects
            .get(subject)
            .map(Vec::as_slice)
            .ok_or_else(|| RegistryError::SubjectNotFound(subject.to_owned()))
    }

    /// One version of a subject.
    pub fn version(&self, subject: &str, spec: VersionSpec) -> Result<Version, RegistryError> {
        let versions = self.versions(subject)?;
        match spec {
            VersionSpec::Latest => versions.last().copied(),
            VersionSpec::Number(n) => versions.iter().find(|v| v.version == n).copied(),
        }
        .ok_or_else(|| {
            RegistryError::VersionNotFound(match spec {
                VersionSpec::Latest => "latest".into(),
                VersionSpec::Number(n) => n.to_string(),
            })
        })
    }

    /// The level in force for `subject` (its own; else, for a partner's
    /// subject under its door, [`Level::ForwardTransitive`], see the
    /// crate's doc; else the global one), or the global level.
    pub fn level(&self, subject: Option<&str>) -> Level {
        match subject {
            Some(s) => match self.levels.get(s) {
                Some(level) => *level,
                None if rfq_core::Door::of_name(s).is_some() => Level::ForwardTransitive,
                None => self.global,
            },
            None => self.global,
        }
    }

    /// The level set on `subject` itself, if any.
    pub fn own_level(&self, subject: &str) -> Option<Level> {
        self.levels.get(subject).copied()
    }

    /// Whether `schema` may follow the versions of `subject` its level
    /// covers (`against`: the latest, or one version; `all_covered`: every
    /// version a transitive level covers). An unknown subject accepts anything.
    pub fn check(
        &self,
        subject: &str,
        against: VersionSpec,
        schema: &Schema,
        all_covered: bool,
    ) -> Result<(), RegistryError> {
        let level = self.level(Some(subject));
        let Some(versions) = self.subjects.get(subject) else {
            return Ok(());
        };
        let covered: Vec<Version> = match (against, all_covered && level.transitive()) {
            (_, true) => versions.clone(),
            (VersionSpec::Latest, false) => versions.last().copied().into_iter().collect(),
            (VersionSpec::Number(_), false) => vec![self.version(subject, against)?],
        };
        for existing in covered.iter().rev() {
            let (old, _) = canonical(self.schema(existing.id)?)?;
            if let Err(details) = level.allows(&old, schema) {
                return Err(RegistryError::Incompatible {
                    subject: subject.to_owned(),
                    details: format!("version {}: {details}", existing.version),
                });
            }
        }
        Ok(())
    }
}

impl Level {
    /// Whether `new` may follow `old` under this level; why not if not.
    /// Only a full (always resolvable) reading counts, as in Confluent's
    /// registry.
    pub fn allows(self, old: &Schema, new: &Schema) -> Result<(), String> {
        let reads =
            |writer: &Schema, reader: &Schema, what: &str| match SchemaCompatibility::can_read(
                writer, reader,
            ) {
                Ok(Compatibility::Full) => Ok(()),
                Ok(Compatibility::Partial) => Err(format!("{what}: only partly")),
                Err(error) => Err(format!("{what}: {error}")),
            };
        let backward = || {
            reads(
                old,
                new,
                "the new schema cannot read data written with the old one",
            )
        };
        let forward = || {
            reads(
                new,
                old,
                "the old schema cannot read data written with the new one",
            )
        };
        match self {
            Level::None => Ok(()),
            Level::Backward | Level::BackwardTransitive => backward(),
            Level::Forward | Level::ForwardTransitive => forward(),
            Level::Full | Level::FullTransitive => backward().and_then(|()| forward()),
        }
    }
}

#[cfg(test)]
mod tests;
