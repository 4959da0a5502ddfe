//! A real DNS server for the tests to verify custom domains against (UDP, the way the app's resolver asks):
//! it answers the TXT records a test publishes, and NXDOMAIN for every other name.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record};
use tokio::net::UdpSocket;

#[derive(Clone)]
pub struct DnsServer {
    pub addr: SocketAddr,
    /// Lower-cased name without the trailing dot → TXT values.
    txt: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl DnsServer {
    pub async fn start() -> DnsServer {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let txt: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
        let zone = txt.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else { return };
                let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
                let Some(reply) = answer(&query, &zone) else { continue };
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
            }
        });
        DnsServer { addr, txt }
    }

    /// Publishes a TXT record, as a reseller would at their DNS provider.
    pub fn publish_txt(&self, name: &str, value: &str) {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        self.txt.lock().unwrap().entry(key).or_default().push(value.to_owned());
    }
}

fn answer(query: &Message, zone: &Mutex<HashMap<String, Vec<String>>>) -> Option<Message> {
    let q = query.queries().first()?.clone();
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .set_authoritative(true);
    reply.add_query(q.clone());
    let key = q.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
    match zone.lock().unwrap().get(&key) {
        Some(values) => {
            for v in values {
                reply.add_answer(Record::from_rdata(q.name().clone(), 60, RData::TXT(TXT::new(vec![v.clone()]))));
            }
        }
        None => {
            reply.set_response_code(ResponseCode::NXDomain);
        }
    }
    Some(reply)
}
