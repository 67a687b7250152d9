//! Snapshots of what `sluice` says before it reads any configuration or calls AWS:
//! every command's help and the mistakes the argument parser catches
//! (`tests/cmd/*.md`), and the configuration errors (`tests/cmd/*.toml`, each run in
//! an environment of its own, with no AWS setup of this machine's and no network). A
//! change to either shows as a diff here; `TRYCMD=overwrite cargo test -p sluice
//! --test snapshots` writes the new text.

#[test]
fn help_and_errors() {
    trycmd::TestCases::new()
        .register_bin(
            "sluice",
            std::path::PathBuf::from(env!("CARGO_BIN_EXE_sluice")),
        )
        // Help is wrapped to the terminal, or to COLUMNS without one.
        .env("COLUMNS", "100")
        .case("tests/cmd/*.md")
        .case("tests/cmd/*.toml");
}
