// stylers: collect every `style! {..}` block under app/src into one CSS file, which cargo-leptos serves
// together with the Tailwind output (see `style-file` in the workspace Cargo.toml).
fn main() {
    println!("cargo:rerun-if-changed=src");
    // sqlx::migrate! embeds the migration files: a new or changed migration must rebuild the crate.
    println!("cargo:rerun-if-changed=../migrations");
    stylers::build(Some(String::from("../style/generated/stylers.css")));
    fonts();
}

/// The server compiles the invoice fonts into its binary (`backend/billing/pdf/fonts.rs`) from the npm
/// packages that `npm ci` installs (`make run` and `make test` run it through `scripts/bootstrap.sh`).
/// Without them, say so plainly instead of a bare "couldn't read …" from `include_bytes!`.
fn fonts() {
    if std::env::var_os("CARGO_FEATURE_SSR").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/@expo-google-fonts");
    println!("cargo:rerun-if-changed={}", dir.display());
    for package in ["noto-sans", "noto-sans-arabic", "noto-sans-sc", "noto-sans-kr"] {
        if !dir.join(package).join("LICENSE_FONT").is_file() {
            panic!(
                "the invoice fonts are missing ({}): run `npm ci` in the repository root (or `make tools`), \
                 which installs them from package.json",
                dir.join(package).display()
            );
        }
    }
}
