use super::*;
use clap::Parser;

/// A small command line shaped like `rfq`'s: a global `--config`, two
/// subcommands sharing a flag.
#[derive(Debug, Parser)]
struct Cli {
    #[arg(long, global = true, env = "RFQ_TEST_SETTINGS_CONFIG_UNUSED")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    One(One),
    Two(Two),
}

#[derive(Debug, Clone, PartialEq, clap::Args)]
struct One {
    #[arg(long, default_value = "built-in")]
    shared: String,
    #[arg(long, default_value_t = 7)]
    number: u32,
    /// Read from `PATH`, which every process has: the environment layer
    /// without changing the environment.
    #[arg(long, env = "PATH", default_value = "built-in")]
    from_env: String,
    #[arg(long = "option", value_delimiter = ',')]
    options: Vec<String>,
    #[arg(long = "switch")]
    switch: bool,
}

#[derive(Debug, Clone, PartialEq, clap::Args)]
struct Two {
    #[arg(long, default_value = "built-in")]
    shared: String,
    #[arg(long)]
    maybe: Option<String>,
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    file
}

fn one(argv: &[&str]) -> One {
    match parse_layered::<Cli>(argv.iter().copied()).unwrap().command {
        Sub::One(one) => one,
        Sub::Two(_) => panic!("parsed the wrong subcommand"),
    }
}

#[test]
fn defaults_come_from_the_declaration_not_the_environment() {
    let one: One = defaults();
    assert_eq!(one.number, 7);
    assert_eq!(one.shared, "built-in");
    assert_eq!(one.from_env, "built-in");
    assert!(one.options.is_empty() && !one.switch);
}

#[test]
fn the_file_overrides_defaults_and_flags_override_the_file() {
    let config = file(
        "shared: from-file\nnumber: 3\noption: [a=1, b=2]\nswitch: true\ntwo:\n  maybe: here\n",
    );
    let path = config.path().to_str().unwrap();
    let parsed = one(&["rfq", "--config", path, "one"]);
    assert_eq!(parsed.shared, "from-file");
    assert_eq!(parsed.number, 3);
    assert_eq!(parsed.options, ["a=1", "b=2"]);
    assert!(parsed.switch);
    let parsed = one(&["rfq", "one", "--number", "4", &format!("--config={path}")]);
    assert_eq!(parsed.number, 4, "a flag beats the file");
    match parse_layered::<Cli>(["rfq", "--config", path, "two"])
        .unwrap()
        .command
    {
        Sub::Two(two) => {
            assert_eq!(
                two.shared, "from-file",
                "top-level keys reach every subcommand"
            );
            assert_eq!(
                two.maybe.as_deref(),
                Some("here"),
                "a section reaches its subcommand"
            );
        }
        Sub::One(_) => panic!("parsed the wrong subcommand"),
    }
}

#[test]
fn an_empty_section_and_lists_for_repeatable_settings_are_taken() {
    let config = file("one:\n  # nothing yet\ntwo:\noption: [a=1]\n");
    let path = config.path().to_str().unwrap();
    assert_eq!(one(&["rfq", "--config", path, "one"]).options, ["a=1"]);
}

#[test]
fn the_environment_beats_the_file() {
    let config = file("from-env: from-file\n");
    let path = config.path().to_str().unwrap().to_owned();
    let path_variable = std::env::var("PATH").unwrap();
    assert_eq!(
        one(&["rfq", "--config", &path, "one"]).from_env,
        path_variable
    );
    assert_eq!(
        one(&["rfq", "--config", &path, "one", "--from-env", "flag"]).from_env,
        "flag"
    );
}

#[test]
fn unknown_keys_sections_and_bad_files_are_errors_that_name_them() {
    let error = |text: &str| {
        let config = file(text);
        let path = config.path().to_str().unwrap().to_owned();
        parse_layered::<Cli>(["rfq", "--config", &path, "one"])
            .unwrap_err()
            .to_string()
    };
    assert!(
        error("nmber: 3\n").contains("\"nmber\""),
        "{}",
        error("nmber: 3\n")
    );
    let text = "one:\n  maybe: x\n";
    assert!(
        error(text).contains("`rfq one` has no setting \"maybe\""),
        "{}",
        error(text)
    );
    assert!(error("three:\n  a: 1\n").contains("not a subcommand"));
    assert!(error("- a\n- b\n").contains("expected a mapping"));
    assert!(error("number: [1, {a: 2}]\n").contains("number"));
    let list = error("number: [1, 2]\n");
    assert!(list.contains("number takes one value"), "{list}");
    assert!(error("shared:\n").contains("needs a value"));
    assert!(
        error("number: twelve\n").contains("twelve"),
        "a bad value is clap's error"
    );
    let missing = parse_layered::<Cli>(["rfq", "--config", "/nonexistent/rfq.yaml", "one"])
        .unwrap_err()
        .to_string();
    assert!(missing.contains("/nonexistent/rfq.yaml"), "{missing}");
}
