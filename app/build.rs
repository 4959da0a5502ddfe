// stylers: collect every `style! {..}` block under app/src into one CSS file, which cargo-leptos serves
// together with the Tailwind output (see `style-file` in the workspace Cargo.toml).
fn main() {
    println!("cargo:rerun-if-changed=src");
    stylers::build(Some(String::from("../style/generated/stylers.css")));
}
