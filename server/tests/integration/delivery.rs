//! How answers travel to a browser: pages and server functions compressed (brotli or gzip) when the client
//! accepts it, with their statuses intact; event streams never compressed; the built site's files served
//! as compressed at build time, revalidated on every use under their plain names (which do not change
//! between releases) and kept for a year under their build's id, as pages link them.

use std::io::Read;

use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, IF_MODIFIED_SINCE, LAST_MODIFIED, VARY};

use crate::common::{Backend, TestApp, SITE_STYLESHEET};

fn unbrotli(bytes: &[u8]) -> String {
    let mut out = String::new();
    brotli::Decompressor::new(bytes, 4096).read_to_string(&mut out).unwrap();
    out
}

fn ungzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut out).unwrap();
    out
}

fn header(res: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_server_functions_are_compressed_for_clients_that_accept_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let c = app.demo().await;
    let page = |encoding: Option<&'static str>| {
        let mut req = c.http.get(format!("{}/workspaces", c.base));
        if let Some(e) = encoding {
            req = req.header(ACCEPT_ENCODING, e);
        }
        req.send()
    };

    // The same page three ways: brotli preferred, gzip, and as it is for a client that asks for neither.
    let plain = page(None).await.unwrap();
    assert_eq!(header(&plain, CONTENT_ENCODING), None);
    let plain = plain.text().await.unwrap();
    assert!(plain.contains("My workspaces"), "{plain}");
    let br = page(Some("gzip, deflate, br")).await.unwrap();
    assert_eq!(br.status().as_u16(), 200);
    assert_eq!(header(&br, CONTENT_ENCODING).as_deref(), Some("br"));
    assert!(header(&br, VARY).is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")));
    let br = br.bytes().await.unwrap();
    let html = unbrotli(&br);
    assert!(html.contains("My workspaces"));
    assert!(br.len() * 2 < html.len(), "brotli: {} bytes for {}", br.len(), html.len());
    let gz = page(Some("gzip")).await.unwrap();
    assert_eq!(header(&gz, CONTENT_ENCODING).as_deref(), Some("gzip"));
    assert!(ungzip(&gz.bytes().await.unwrap()).contains("My workspaces"));

    // A server function's JSON, and a refused call keeps its own status under compression.
    let catalog = c
        .http
        .post(format!("{}/api/catalog", c.base))
        .header(ACCEPT_ENCODING, "br")
        .form(&[] as &[(&str, &str)])
        .send()
        .await
        .unwrap();
    assert_eq!(catalog.status().as_u16(), 200);
    assert_eq!(header(&catalog, CONTENT_ENCODING).as_deref(), Some("br"));
    let json: serde_json::Value = serde_json::from_str(&unbrotli(&catalog.bytes().await.unwrap())).unwrap();
    assert!(json.to_string().contains("developer-basic"), "{json}");
    let refused = app
        .client()
        .http
        .post(format!("{}/api/login", app.base))
        .header(ACCEPT_ENCODING, "br")
        .form(&[("email", "demo@ezscale.test"), ("password", "not-the-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401, "the error status survives compression");
    let body = match header(&refused, CONTENT_ENCODING).as_deref() {
        Some("br") => unbrotli(&refused.bytes().await.unwrap()),
        _ => refused.text().await.unwrap(),
    };
    assert!(serde_json::from_str::<app::error::AppError>(&body).is_ok(), "{body}");

    // The live event stream is never compressed: its events would wait in the compressor.
    let events =
        c.http.get(format!("{}/events/workspaces", c.base)).header(ACCEPT_ENCODING, "gzip, br").send().await.unwrap();
    assert_eq!(events.status().as_u16(), 200);
    assert_eq!(header(&events, CONTENT_ENCODING), None);
    assert!(header(&events, reqwest::header::CONTENT_TYPE).is_some_and(|t| t.starts_with("text/event-stream")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_sites_files_are_served_as_compressed_at_build_time_and_revalidated() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // A file of the built site with the compressed copies `cargo leptos --precompress` writes beside it,
    // in the site root the test servers use.
    let dir = std::path::Path::new("target/site/pkg");
    std::fs::create_dir_all(dir).unwrap();
    let name = format!("probe-{}.js", uuid::Uuid::new_v4().simple());
    let body = "console.log('probe');\n".repeat(200);
    let mut br = Vec::new();
    brotli::BrotliCompress(&mut body.as_bytes(), &mut br, &brotli::enc::BrotliEncoderParams::default()).unwrap();
    std::fs::write(dir.join(&name), &body).unwrap();
    std::fs::write(dir.join(format!("{name}.br")), &br).unwrap();
    let url = format!("{}/pkg/{name}", app.base);
    let http = app.client().http;

    let res = http.get(&url).header(ACCEPT_ENCODING, "gzip, br").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(header(&res, CONTENT_ENCODING).as_deref(), Some("br"));
    assert_eq!(header(&res, CACHE_CONTROL).as_deref(), Some("no-cache"), "revalidated on every use");
    assert_eq!(header(&res, VARY).as_deref(), Some("accept-encoding"));
    let modified = header(&res, LAST_MODIFIED).expect("a validator");
    assert_eq!(res.bytes().await.unwrap().as_ref(), br.as_slice(), "the build's own brotli, not compressed again");
    // Revalidation: unchanged, so no body.
    let again = http.get(&url).header(IF_MODIFIED_SINCE, &modified).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 304);
    assert_eq!(header(&again, CACHE_CONTROL).as_deref(), Some("no-cache"));
    // A client that accepts no compression gets the file itself.
    let plain = http.get(&url).send().await.unwrap();
    assert_eq!(header(&plain, CONTENT_ENCODING), None);
    assert_eq!(plain.text().await.unwrap(), body);
    // Other answers keep their own caching: a page is never marked as a site file.
    let page = http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_ne!(header(&page, CACHE_CONTROL).as_deref(), Some("no-cache"));

    let _ = std::fs::remove_file(dir.join(&name));
    let _ = std::fs::remove_file(dir.join(format!("{name}.br")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_link_the_built_site_under_its_id_and_browsers_keep_those_files_for_a_year() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let http = app.client().http;
    let (status, html) = app.client().get_page("/").await;
    assert_eq!(status, 200);
    // The stylesheet, the loader and the WebAssembly all under one `/assets/<id>` root.
    let start = html.find("href=\"/assets/").expect("a link under /assets/") + "href=\"".len();
    let root = &html[start..start + "/assets/".len() + 16];
    let id = root.trim_start_matches("/assets/");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{root}");
    for link in [
        format!("<link rel=\"stylesheet\" id=\"leptos\" href=\"{root}/pkg/ezscale.css\""),
        format!("<link rel=\"modulepreload\" href=\"{root}/pkg/ezscale.js\""),
        // (`ezscale_bg.wasm` in this test build: the name cargo-leptos sets is compiled in by its builds only)
        format!("<link rel=\"preload\" href=\"{root}/pkg/ezscale"),
    ] {
        assert!(html.contains(&link), "{link} in {html}");
    }
    assert!(!html.contains("\"/pkg/"), "no file of the site under its plain name: {html}");

    // Served with a year's caching, the same bytes as under the plain name, on a storefront and the admin app.
    for client in [app.client(), app.client_for("admin.localhost")] {
        let res = client.http.get(format!("{}{root}/pkg/ezscale.css", client.base)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{}", client.base);
        assert_eq!(header(&res, CACHE_CONTROL).as_deref(), Some("public, max-age=31536000, immutable"));
        assert_eq!(header(&res, VARY).as_deref(), Some("accept-encoding"));
        assert!(header(&res, reqwest::header::CONTENT_TYPE).is_some_and(|t| t.starts_with("text/css")));
        assert_eq!(res.text().await.unwrap(), SITE_STYLESHEET);
    }

    // Not found, and not kept: another build's id, a path outside the pkg directory, a file written
    // after the server read its build, a file that never was.
    let probe = format!("late-{}.js", uuid::Uuid::new_v4().simple());
    let dir = std::path::Path::new("target/site/pkg");
    std::fs::write(dir.join(&probe), "late").unwrap();
    let other = if id.starts_with('0') { "1111111111111111" } else { "0000000000000000" };
    for path in [
        format!("/assets/{other}/pkg/ezscale.css"),
        format!("{root}/ezscale.css"),
        format!("{root}/pkg/{probe}"),
        format!("{root}/pkg/missing.js"),
    ] {
        let res = http.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 404, "{path}");
        assert_eq!(header(&res, CACHE_CONTROL).as_deref(), Some("no-store"), "{path}");
    }
    // The plain name still serves it (revalidated on each use).
    let late = http.get(format!("{}/pkg/{probe}", app.base)).send().await.unwrap();
    assert_eq!(late.status().as_u16(), 200);
    assert_eq!(header(&late, CACHE_CONTROL).as_deref(), Some("no-cache"));
    let _ = std::fs::remove_file(dir.join(&probe));
    app.stop().await;
}
