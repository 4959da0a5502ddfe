// stylers: collect every `style! {..}` block under app/src into one CSS file, which cargo-leptos serves
// together with the Tailwind output (see `style-file` in the workspace Cargo.toml).
fn main() {
    println!("cargo:rerun-if-changed=src");
    // sqlx::migrate! embeds the migration files: a new or changed migration must rebuild the crate.
    println!("cargo:rerun-if-changed=../migrations");
    stylers::build(Some(String::from("../style/generated/stylers.css")));
}
