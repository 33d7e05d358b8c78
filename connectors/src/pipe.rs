//! A bounded byte pipe between threads: a producer (an unzipping thread, a
//! decrypting download) writes chunks, a reader on another thread reads
//! them as a stream. At most `capacity` chunks wait, so memory stays bounded.

use std::io::{Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

type Chunk = std::io::Result<Vec<u8>>;

pub fn pipe(capacity: usize) -> (PipeWriter, PipeReader) {
    let (tx, rx) = sync_channel(capacity);
    (
        PipeWriter { tx },
        PipeReader {
            rx,
            current: Vec::new(),
            pos: 0,
        },
    )
}

#[derive(Clone, Debug)]
pub struct PipeWriter {
    tx: SyncSender<Chunk>,
}

impl PipeWriter {
    /// Ends the stream with an error the reader will see.
    pub fn fail(&self, error: std::io::Error) {
        let _ = self.tx.send(Err(error));
    }
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx.send(Ok(buf.to_vec())).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader stopped")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
pub struct PipeReader {
    rx: Receiver<Chunk>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // Every writer is gone: the end of the stream.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_errors_cross_threads_in_order() {
        let (mut w, mut r) = pipe(2);
        let t = std::thread::spawn(move || {
            for i in 0..100u8 {
                w.write_all(&[i; 10]).unwrap();
            }
            w.fail(std::io::Error::other("boom"));
        });
        let mut got = vec![0u8; 1000];
        r.read_exact(&mut got).unwrap();
        assert_eq!(got[999], 99);
        assert_eq!(r.read(&mut [0u8; 4]).unwrap_err().to_string(), "boom");
        t.join().unwrap();
    }
}
