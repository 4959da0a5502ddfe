//! cargo-leptos reads only Cargo.toml's [[workspace.metadata.leptos]]; the server reads Leptos.toml at run
//! time. The values both use must agree, or the server looks for the site where the build did not put it.

fn value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with(&format!("{key} ")) || l.starts_with(&format!("{key}=")))
        .and_then(|l| l.split_once('='))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
}

#[test]
fn leptos_toml_agrees_with_the_cargo_leptos_metadata() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let meta = cargo.split("[[workspace.metadata.leptos]]").nth(1).expect("cargo-leptos metadata");
    let leptos = std::fs::read_to_string(root.join("Leptos.toml")).unwrap();
    assert_eq!(value(meta, "name"), value(&leptos, "output-name"), "output name");
    for key in ["site-root", "site-pkg-dir", "site-addr", "reload-port"] {
        assert!(value(meta, key).is_some(), "{key} missing from Cargo.toml");
        assert_eq!(value(meta, key), value(&leptos, key), "{key}");
    }
}
