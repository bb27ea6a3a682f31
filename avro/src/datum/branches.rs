//! The union branches of a record read with schema resolution, each held
//! against the branch the writer wrote.
//!
//! apache-avro (0.22) resolves a writer's union value to the reader's union
//! by trying the reader's branches in order and taking the first the value
//! resolves to, whatever the writer's branch was named. A partner's `Quote`
//! without `pickup_eta_seconds` does not resolve to our `Quote`, but does to
//! our `Decline` (whose only field has a default): a quote of 12.37 EUR was
//! read as a decline with the reason "". Avro's rules (and fastavro, and
//! Java) say a named branch is read as the reader's branch of the same full
//! name, or not at all. [`check`] walks the value the writer wrote beside
//! the value it was resolved to and refuses any union value whose branch
//! changed name (record, enum, fixed), or went from null to a value or back.

use super::path::Path;
use apache_avro::{
    Schema,
    schema::{Name, NamesRef, NamespaceRef, UnionSchema},
    types::Value,
};

/// Refuses (with the reason) a record whose resolved value `read` (read
/// as `reader`, whose names are `reader_names`) took, at some union, a
/// branch other than the one the writer wrote in `written` (written as
/// `writer`).
pub(super) fn check(
    written: &Value,
    writer: &Schema,
    read: &Value,
    reader: &Schema,
    reader_names: &NamesRef,
) -> Result<(), String> {
    let walk = Walk {
        writer,
        reader_names,
    };
    walk.value(
        &Path::ROOT,
        Side::new(written, writer, None),
        Side::new(read, reader, None),
    )
}

/// A value, its schema and the namespace it is in.
#[derive(Clone, Copy)]
struct Side<'v, 's> {
    value: &'v Value,
    schema: &'s Schema,
    namespace: NamespaceRef<'s>,
}

impl<'v, 's> Side<'v, 's> {
    fn new(value: &'v Value, schema: &'s Schema, namespace: NamespaceRef<'s>) -> Self {
        Self {
            value,
            schema,
            namespace,
        }
    }
}

struct Walk<'s, 'n> {
    /// The writer's schema, where a reference of the writer's is looked
    /// up where the type is defined (a map of the writer's names, built
    /// for every record read, cost about 1 µs).
    writer: &'s Schema,
    /// Our named types.
    reader_names: &'n NamesRef<'n>,
}

impl<'s, 'n> Walk<'s, 'n>
where
    'n: 's,
{
    fn value(&self, path: &Path, written: Side<'_, 's>, read: Side<'_, 's>) -> Result<(), String> {
        let written = self.writers(written);
        let read = self.readers(read);
        let (written, writer_union) = match (written.schema, written.value) {
            (Schema::Union(union), Value::Union(index, value)) => match branch(union, *index) {
                Some(schema) => (
                    self.writers(Side {
                        value: value.as_ref(),
                        schema,
                        ..written
                    }),
                    true,
                ),
                None => return Ok(()),
            },
            _ => (written, false),
        };
        let (read, reader_union) = match (read.schema, read.value) {
            (Schema::Union(union), Value::Union(index, value)) => match branch(union, *index) {
                Some(schema) => (
                    self.readers(Side {
                        value: value.as_ref(),
                        schema,
                        ..read
                    }),
                    Some(union),
                ),
                None => return Ok(()),
            },
            _ => (read, None),
        };
        if writer_union || reader_union.is_some() {
            self.same_branch(path, written, read, reader_union)?;
        }
        match (written.schema, written.value, read.schema, read.value) {
            (
                Schema::Record(writer),
                Value::Record(written_fields),
                Schema::Record(reader),
                Value::Record(read_fields),
            ) => {
                let writer_namespace = writer.name.namespace().or(written.namespace);
                let reader_namespace = reader.name.namespace().or(read.namespace);
                for (field, (name, value)) in reader.fields.iter().zip(read_fields) {
                    // A field the writer lacks took our default: nothing to compare.
                    let Some(writer_field) = writer
                        .lookup
                        .get(name.as_str())
                        .and_then(|index| writer.fields.get(*index))
                    else {
                        continue;
                    };
                    let Some((_, written_value)) = written_fields
                        .iter()
                        .find(|(written_name, _)| *written_name == writer_field.name)
                    else {
                        continue;
                    };
                    self.value(
                        &path.field(name),
                        Side::new(written_value, &writer_field.schema, writer_namespace),
                        Side::new(value, &field.schema, reader_namespace),
                    )?;
                }
                Ok(())
            }
            (
                Schema::Array(writer),
                Value::Array(items),
                Schema::Array(reader),
                Value::Array(read_items),
            ) => {
                for (index, (item, read_item)) in items.iter().zip(read_items).enumerate() {
                    self.value(
                        &path.index(index),
                        Side::new(item, &writer.items, written.namespace),
                        Side::new(read_item, &reader.items, read.namespace),
                    )?;
                }
                Ok(())
            }
            (
                Schema::Map(writer),
                Value::Map(entries),
                Schema::Map(reader),
                Value::Map(read_entries),
            ) => {
                for (key, read_value) in read_entries {
                    if let Some(value) = entries.get(key) {
                        self.value(
                            &path.key(key),
                            Side::new(value, &writer.types, written.namespace),
                            Side::new(read_value, &reader.types, read.namespace),
                        )?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Refuses a union value read as another branch than the writer's.
    fn same_branch(
        &self,
        path: &Path,
        written: Side<'_, 's>,
        read: Side<'_, 's>,
        reader_union: Option<&'s UnionSchema>,
    ) -> Result<(), String> {
        let writer = written.schema;
        let reader = read.schema;
        let same = match (writer, reader) {
            (Schema::Null, Schema::Null) => true,
            (Schema::Null, _) | (_, Schema::Null) => false,
            _ => match (writer.name(), reader.name()) {
                (None, None) => true,
                (Some(_), Some(_)) => same_name(writer, reader),
                _ => false,
            },
        };
        if same {
            return Ok(());
        }
        let candidates = match reader_union {
            Some(union) => union.variants(),
            None => std::slice::from_ref(reader),
        };
        let namesake = candidates
            .iter()
            .map(|candidate| {
                self.readers(Side {
                    schema: candidate,
                    ..read
                })
                .schema
            })
            .find(|candidate| same_name(writer, candidate));
        let theirs = describe(writer);
        let read_as = describe(reader);
        Err(match namesake {
            Some(namesake) => match self.why(written, namesake) {
                Some(why) => format!(
                    "{path}: the writer's branch {theirs} cannot be read as our {} ({why}); \
                     refusing rather than reading it as another branch ({read_as})",
                    describe(namesake),
                ),
                None => format!(
                    "{path}: the writer's branch {theirs} would be read as our {read_as}, \
                     an earlier branch that accepts it too, rather than as our {}; refusing",
                    describe(namesake),
                ),
            },
            None => format!(
                "{path}: the writer's branch {theirs} has no counterpart among ours ({}); \
                 refusing rather than reading it as {read_as}",
                candidates
                    .iter()
                    .map(describe)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        })
    }

    /// Why the writer's value does not resolve to our branch of its name
    /// (none if it does).
    fn why(&self, written: Side<'_, 's>, ours: &Schema) -> Option<String> {
        if let (Schema::Record(reader), Value::Record(fields)) = (ours, written.value) {
            let missing = reader.fields.iter().find(|field| {
                field.default.is_none() && !fields.iter().any(|(name, _)| *name == field.name)
            });
            if let Some(field) = missing {
                return Some(format!("field {} missing and without default", field.name));
            }
        }
        written
            .value
            .clone()
            .resolve_with_names(ours, self.reader_names)
            .err()
            .map(|error| error.to_string())
    }

    /// The writer's side with a reference replaced by the type it names.
    fn writers<'v>(&self, side: Side<'v, 's>) -> Side<'v, 's> {
        let Schema::Ref { name } = side.schema else {
            return side;
        };
        match defined(self.writer, &name.fully_qualified_name(side.namespace)) {
            Some(schema) => Side { schema, ..side },
            None => side,
        }
    }

    /// Our side with a reference replaced by the type it names.
    fn readers<'v>(&self, side: Side<'v, 's>) -> Side<'v, 's> {
        let Schema::Ref { name } = side.schema else {
            return side;
        };
        match self
            .reader_names
            .get(&*name.fully_qualified_name(side.namespace))
        {
            Some(schema) => Side { schema, ..side },
            None => side,
        }
    }
}

/// Whether the writer's named type `writer` is our `reader` (by full name,
/// or one of our aliases).
fn same_name(writer: &Schema, reader: &Schema) -> bool {
    let (Some(theirs), Some(ours)) = (writer.name(), reader.name()) else {
        return false;
    };
    theirs == ours
        || reader.aliases().is_some_and(|aliases| {
            aliases
                .iter()
                .any(|alias| *alias.fully_qualified_name(ours.namespace()) == *theirs)
        })
}

/// Where the named type `name` is defined in `schema`.
fn defined<'s>(schema: &'s Schema, name: &Name) -> Option<&'s Schema> {
    if schema.name() == Some(name) && !matches!(schema, Schema::Ref { .. }) {
        return Some(schema);
    }
    match schema {
        Schema::Record(record) => record
            .fields
            .iter()
            .find_map(|field| defined(&field.schema, name)),
        Schema::Union(union) => union
            .variants()
            .iter()
            .find_map(|variant| defined(variant, name)),
        Schema::Array(array) => defined(&array.items, name),
        Schema::Map(map) => defined(&map.types, name),
        _ => None,
    }
}

fn branch(union: &UnionSchema, index: u32) -> Option<&Schema> {
    union.variants().get(usize::try_from(index).ok()?)
}

/// A branch as the error names it: its full name, or its type.
fn describe(schema: &Schema) -> String {
    match schema.name() {
        Some(name) => name.fullname(None),
        None => match schema {
            Schema::Null => "null".to_owned(),
            other => format!("{:?}", apache_avro::schema::SchemaKind::from(other)).to_lowercase(),
        },
    }
}
