//! A small HTTP/1.1 file server on 127.0.0.1 for download tests: serves byte buffers by
//! path, honours `Range: bytes=N-`, answers 404 for anything else, can cut the next bodies
//! short (to test resuming), and records every request.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The path, e.g. `/data.zip`.
    pub path: String,
    /// The `Range` header, when sent.
    pub range: Option<String>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// Bodies still to cut short, and after how many bytes.
    drops: usize,
    drop_after: usize,
    requests: Vec<Request>,
}

/// A running server; it stops with the test process.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl Server {
    /// Starts a server on a free port.
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = handle(stream, &shared);
            }
        });
        Server { url, state }
    }

    /// Serves `bytes` at `path` (which starts with `/`).
    pub fn serve(&self, path: &str, bytes: Vec<u8>) {
        self.state.lock().unwrap().files.insert(path.into(), bytes);
    }

    /// Cuts the next `times` response bodies after `after` bytes, then closes the connection.
    pub fn drop_connections(&self, times: usize, after: usize) {
        let mut state = self.state.lock().unwrap();
        state.drops = times;
        state.drop_after = after;
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }
}

/// A URL on 127.0.0.1 where nothing listens (the connection is refused).
pub fn refused_url(path: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}{path}")
}

fn handle(mut stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    let (status, headers, body, cut) = {
        let mut s = state.lock().unwrap();
        s.requests.push(Request {
            path: path.clone(),
            range: range.clone(),
        });
        let cut = (s.drops > 0).then(|| {
            s.drops -= 1;
            s.drop_after
        });
        match s.files.get(&path) {
            None => ("404 Not Found", String::new(), b"not found".to_vec(), None),
            Some(file) => {
                let start = range
                    .as_deref()
                    .and_then(|r| r.strip_prefix("bytes="))
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|n| n.parse::<usize>().ok());
                match start {
                    Some(n) if n >= file.len() => (
                        "416 Range Not Satisfiable",
                        format!("Content-Range: bytes */{}\r\n", file.len()),
                        Vec::new(),
                        None,
                    ),
                    Some(n) => (
                        "206 Partial Content",
                        format!(
                            "Content-Range: bytes {n}-{}/{}\r\n",
                            file.len() - 1,
                            file.len()
                        ),
                        file[n..].to_vec(),
                        cut,
                    ),
                    None => ("200 OK", String::new(), file.clone(), cut),
                }
            }
        }
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )?;
    let sent = cut.map_or(body.len(), |c| c.min(body.len()));
    stream.write_all(&body[..sent])?;
    stream.flush()?;
    stream.shutdown(Shutdown::Both)
}
