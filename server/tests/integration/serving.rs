//! Several servers in one process: a server that starts (builds its router) while another one of the same
//! process is serving pages must not stall those pages. Listing the app's routes renders the app with
//! resource loading switched off process-wide, so it happens once per process, never while serving.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::LeptosOptions;

use crate::common::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_keep_answering_while_more_servers_start_in_the_same_process() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let clients = [app.demo().await, app.demo().await, app.demo().await];
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = clients
        .into_iter()
        .map(|c| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut pages = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    for path in ["/workspaces", "/billing", "/"] {
                        // A page renders in milliseconds here; one that waits seconds is waiting forever.
                        let page = tokio::time::timeout(Duration::from_secs(5), c.get_page(path)).await;
                        match page {
                            Ok((200, _)) => pages += 1,
                            Ok((status, body)) => {
                                panic!("{path}: {status} {}", body.chars().take(200).collect::<String>())
                            }
                            Err(_) => panic!("{path} gave no answer in 5 s while other servers started"),
                        }
                    }
                }
                pages
            })
        })
        .collect();
    // Servers starting beside it: each builds the whole router, as a server's start does.
    for _ in 0..12 {
        let (state, leptos) = (app.state.clone(), options());
        tokio::task::spawn_blocking(move || drop(server::routes::router(state, leptos))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut pages = 0;
    for r in readers {
        pages += r.await.expect("every page answered");
    }
    assert!(pages >= 30, "the pages were read while the servers started ({pages})");
    app.stop().await;
}

fn options() -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("ezscale")
        .site_root("target/site")
        .site_pkg_dir("pkg")
        .site_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .build()
}
