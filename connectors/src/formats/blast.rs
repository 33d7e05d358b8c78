//! PKWare DCL "implode" streams, as DATASUS compresses the record area of a
//! DBC file: a streaming decoder ([`Explode`], a `Read` adapter whose only
//! buffers are the 4 KiB sliding window and a fixed input buffer) and a
//! literal-only encoder ([`LiteralImploder`]) for test fixtures.
//!
//! The format, as Ben Rudiak-Gould described it and Mark Adler's `blast.c`
//! documents it:
//! - byte 0 is 0 when literals are plain bytes, 1 when they are Huffman-coded;
//! - byte 1 is 4, 5 or 6: the low bits of a distance (dictionary of 1, 2 or
//!   4 KiB);
//! - then a bit stream, taken from each byte's least significant bit up. A 0
//!   bit announces a literal; a 1 bit a copy: a coded length (base plus extra
//!   bits), then a coded distance (high six bits coded, low bits plain) back
//!   into the output. Length 519 is the end code.
//! - Huffman codes arrive most significant bit first with every bit inverted;
//!   plain literals and extra bits arrive least significant bit first.
//!
//! The three Huffman codes are fixed by the format (canonical codes built
//! from the code lengths below).

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::OnceLock;

/// The largest dictionary the format has (dictionary byte 6).
const WINDOW: usize = 4096;
/// The longest code of the three Huffman codes.
const MAX_CODE_BITS: u32 = 13;
/// A copy of this length marks the end of the stream.
const END_LENGTH: u32 = 519;
/// Length symbol whose largest value is the end code.
const END_SYMBOL: usize = 15;

/// Code lengths of the 256 coded literals, compacted: each byte is
/// `(repeat - 1) << 4 | length` (format constants, as `blast.c` lists them).
const LITERAL_CODE_LENGTHS: [u8; 98] = [
    11, 124, 8, 7, 28, 7, 188, 13, 76, 4, 10, 8, 12, 10, 12, 10, 8, 23, 8, 9, 7, 6, 7, 8, 7, 6, 55,
    8, 23, 24, 12, 11, 7, 9, 11, 12, 6, 7, 22, 5, 7, 24, 6, 11, 9, 6, 7, 22, 7, 11, 38, 7, 9, 8,
    25, 11, 8, 11, 9, 12, 8, 12, 5, 38, 5, 38, 5, 11, 7, 5, 6, 21, 6, 10, 53, 8, 7, 24, 10, 27, 44,
    253, 253, 253, 252, 252, 252, 13, 12, 45, 12, 45, 12, 61, 12, 45, 44, 173,
];
/// Code lengths of the 16 length symbols, compacted likewise.
const LENGTH_CODE_LENGTHS: [u8; 6] = [2, 35, 36, 53, 38, 23];
/// Code lengths of the 64 distance symbols (a distance's high six bits).
const DISTANCE_CODE_LENGTHS: [u8; 7] = [2, 20, 53, 230, 247, 151, 248];
/// Smallest copy length of each length symbol.
const LENGTH_BASE: [u32; 16] = [3, 2, 4, 5, 6, 7, 8, 9, 10, 12, 16, 24, 40, 72, 136, 264];
/// Extra bits following each length symbol.
const LENGTH_EXTRA_BITS: [u32; 16] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];

/// Why a compressed stream cannot be exploded, and about where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MalformedStream {
    /// Byte of the file (counting from 0) holding the bit where decoding
    /// failed.
    pub offset: u64,
    pub reason: &'static str,
}

impl fmt::Display for MalformedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "compressed data is malformed near byte {}: {}",
            self.offset, self.reason
        )
    }
}

impl std::error::Error for MalformedStream {}

/// Expands compacted code lengths into one length per symbol.
fn expand_lengths(compact: &[u8]) -> Vec<u8> {
    compact
        .iter()
        .flat_map(|&b| std::iter::repeat_n(b & 0x0F, usize::from(b >> 4) + 1))
        .collect()
}

/// Canonical Huffman codes: shorter codes first, symbols in order within a
/// length. Returns each symbol's code as a number (0 for unused symbols).
fn canonical_codes(lengths: &[u8]) -> Vec<u32> {
    let mut per_length = [0u32; 16];
    for &len in lengths {
        if len > 0 {
            per_length[usize::from(len & 0x0F)] += 1;
        }
    }
    let mut next = [0u32; 16];
    let mut code = 0u32;
    for len in 1..16 {
        code = (code + per_length[len - 1]) << 1;
        next[len] = code;
    }
    lengths
        .iter()
        .map(|&len| {
            let len = usize::from(len & 0x0F);
            if len == 0 {
                return 0;
            }
            let code = next[len];
            next[len] += 1;
            code
        })
        .collect()
}

/// The bits of `code` in the order they appear in the stream, as a number
/// read least significant bit first: most significant bit first, inverted.
fn stream_bits(code: u32, len: u8) -> u32 {
    (0..u32::from(len)).fold(0, |acc, i| {
        let bit = (code >> (u32::from(len) - 1 - i)) & 1;
        acc | ((bit ^ 1) << i)
    })
}

/// A symbol and its code length; `bits == 0` marks a bit pattern that is
/// no code.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    symbol: u16,
    bits: u8,
}

/// Decodes one Huffman code by looking up the next `MAX_CODE_BITS` bits.
struct DecodeTable {
    entries: Vec<Entry>,
}

impl DecodeTable {
    fn from_compact(compact: &[u8]) -> Self {
        let lengths = expand_lengths(compact);
        let codes = canonical_codes(&lengths);
        let mut entries = vec![Entry::default(); 1 << MAX_CODE_BITS];
        for (symbol, (&len, &code)) in lengths.iter().zip(&codes).enumerate() {
            if len == 0 || u32::from(len) > MAX_CODE_BITS {
                continue;
            }
            let entry = Entry {
                symbol: u16::try_from(symbol).unwrap_or(u16::MAX),
                bits: len,
            };
            // Every bit pattern that starts with this code decodes to it.
            let step = 1usize << len;
            let mut index = stream_bits(code, len) as usize;
            while index < entries.len() {
                entries[index] = entry;
                index += step;
            }
        }
        DecodeTable { entries }
    }

    fn lookup(&self, next_bits: u32) -> Entry {
        let index = (next_bits & ((1 << MAX_CODE_BITS) - 1)) as usize;
        self.entries.get(index).copied().unwrap_or_default()
    }
}

struct Codes {
    literal: DecodeTable,
    length: DecodeTable,
    distance: DecodeTable,
}

fn codes() -> &'static Codes {
    static CODES: OnceLock<Codes> = OnceLock::new();
    CODES.get_or_init(|| Codes {
        literal: DecodeTable::from_compact(&LITERAL_CODE_LENGTHS),
        length: DecodeTable::from_compact(&LENGTH_CODE_LENGTHS),
        distance: DecodeTable::from_compact(&DISTANCE_CODE_LENGTHS),
    })
}

/// Bits from a byte stream, least significant bit of each byte first.
struct BitReader<R> {
    inner: R,
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    input_ended: bool,
    /// Buffered bits, the next one lowest; bits above `count` are zero.
    bits: u64,
    count: u32,
    /// Bytes moved from the input into `bits` so far.
    bytes_taken: u64,
}

impl<R: Read> BitReader<R> {
    fn new(inner: R) -> Self {
        BitReader {
            inner,
            buffer: vec![0; 8192].into_boxed_slice(),
            start: 0,
            end: 0,
            input_ended: false,
            bits: 0,
            count: 0,
            bytes_taken: 0,
        }
    }

    /// Loads bytes until at least 57 bits are buffered or the input ends.
    fn refill(&mut self) -> io::Result<()> {
        while self.count <= 56 {
            if self.start == self.end {
                if self.input_ended {
                    break;
                }
                self.fill_buffer()?;
                continue;
            }
            self.bits |= u64::from(self.buffer[self.start]) << self.count;
            self.start += 1;
            self.count += 8;
            self.bytes_taken += 1;
        }
        Ok(())
    }

    fn fill_buffer(&mut self) -> io::Result<()> {
        loop {
            match self.inner.read(&mut self.buffer) {
                Ok(0) => {
                    self.input_ended = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.start = 0;
                    self.end = n.min(self.buffer.len());
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Buffers at least `n` bits (n <= 57) if the input has them.
    fn has(&mut self, n: u32) -> io::Result<bool> {
        if self.count < n {
            self.refill()?;
        }
        Ok(self.count >= n)
    }

    fn peek(&self) -> u32 {
        (self.bits & 0xFFFF_FFFF) as u32
    }

    fn consume(&mut self, n: u32) {
        let n = n.min(self.count);
        self.bits = if n >= 64 { 0 } else { self.bits >> n };
        self.count -= n;
    }

    /// Offset, from the start of the stream, of the byte holding the next
    /// unread bit.
    fn position(&self) -> u64 {
        self.bytes_taken - u64::from(self.count.div_ceil(8))
    }
}

enum Token {
    Literal(u8),
    Copy { length: u32, distance: u32 },
    End,
}

enum Failure {
    Malformed(MalformedStream),
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl Failure {
    fn into_io(self) -> io::Error {
        match self {
            Failure::Malformed(m) => io::Error::new(io::ErrorKind::InvalidData, m),
            Failure::Io(e) => e,
        }
    }
}

enum State {
    /// The two header bytes are still to be read.
    Start,
    Running {
        coded_literals: bool,
        distance_low_bits: u32,
    },
    Ended,
    /// A failure was reported; every later read reports it again.
    Failed(StoredFailure),
}

#[derive(Clone, Debug)]
enum StoredFailure {
    Malformed(MalformedStream),
    Io(io::ErrorKind, String),
}

impl StoredFailure {
    fn to_io(&self) -> io::Error {
        match self {
            StoredFailure::Malformed(m) => io::Error::new(io::ErrorKind::InvalidData, m.clone()),
            StoredFailure::Io(kind, message) => io::Error::new(*kind, message.clone()),
        }
    }
}

/// Explodes an implode stream while it is read. Memory: the window and the
/// input buffer, whatever the stream's size. Every token consumes input, so
/// a finite input ends (by the end code or an error) after finite work.
/// Bytes after the end code are left unread (DATASUS files have one).
pub(crate) struct Explode<R> {
    bits: BitReader<R>,
    /// Offset of the stream's first byte in the file, for messages.
    stream_offset: u64,
    state: State,
    window: Box<[u8]>,
    produced: u64,
    copy_left: u32,
    copy_distance: u32,
}

impl<R: Read> Explode<R> {
    /// `stream_offset` is where the stream starts in the file; errors name
    /// file offsets.
    pub(crate) fn new(inner: R, stream_offset: u64) -> Self {
        Explode {
            bits: BitReader::new(inner),
            stream_offset,
            state: State::Start,
            window: vec![0; WINDOW].into_boxed_slice(),
            produced: 0,
            copy_left: 0,
            copy_distance: 0,
        }
    }

    fn malformed(&self, reason: &'static str) -> Failure {
        Failure::Malformed(MalformedStream {
            offset: self.stream_offset + self.bits.position(),
            reason,
        })
    }

    /// `n` plain bits (n <= 8), least significant first.
    fn take_bits(&mut self, n: u32) -> Result<u32, Failure> {
        if !self.bits.has(n)? {
            return Err(self.malformed("the data ends before its end code"));
        }
        let value = self.bits.peek() & ((1u32 << n) - 1);
        self.bits.consume(n);
        Ok(value)
    }

    fn decode(&mut self, table: &DecodeTable) -> Result<usize, Failure> {
        // Near the end fewer than 13 bits may remain; the missing ones read
        // as zero, and a code longer than what is left is refused below.
        self.bits.has(MAX_CODE_BITS)?;
        let entry = table.lookup(self.bits.peek());
        if entry.bits == 0 {
            return Err(self.malformed("a bit pattern is no code of the format"));
        }
        if u32::from(entry.bits) > self.bits.count {
            return Err(self.malformed("the data ends before its end code"));
        }
        self.bits.consume(u32::from(entry.bits));
        Ok(usize::from(entry.symbol))
    }

    fn read_stream_header(&mut self) -> Result<State, Failure> {
        if !self.bits.has(16)? {
            return Err(self.malformed("the data is too short for its two-byte header"));
        }
        let coded_literals = match self.bits.peek() & 0xFF {
            0 => false,
            1 => true,
            _ => return Err(self.malformed("the first byte (literal coding) is neither 0 nor 1")),
        };
        self.bits.consume(8);
        let distance_low_bits = self.bits.peek() & 0xFF;
        if !(4..=6).contains(&distance_low_bits) {
            return Err(self.malformed("the second byte (dictionary size) is not 4, 5 or 6"));
        }
        self.bits.consume(8);
        Ok(State::Running {
            coded_literals,
            distance_low_bits,
        })
    }

    fn next_token(
        &mut self,
        coded_literals: bool,
        distance_low_bits: u32,
    ) -> Result<Token, Failure> {
        if self.take_bits(1)? == 0 {
            let literal = if coded_literals {
                self.decode(&codes().literal)?
            } else {
                self.take_bits(8)? as usize
            };
            return Ok(Token::Literal(u8::try_from(literal).unwrap_or(0)));
        }
        let symbol = self.decode(&codes().length)?;
        let (Some(&base), Some(&extra)) = (LENGTH_BASE.get(symbol), LENGTH_EXTRA_BITS.get(symbol))
        else {
            return Err(self.malformed("a length symbol is out of range"));
        };
        let length = base + self.take_bits(extra)?;
        if length == END_LENGTH {
            return Ok(Token::End);
        }
        let low_bits = if length == 2 { 2 } else { distance_low_bits };
        let high = self.decode(&codes().distance)? as u32;
        let distance = (high << low_bits) + self.take_bits(low_bits)? + 1;
        if u64::from(distance) > self.produced {
            return Err(self.malformed("a copy reaches back before the start of the data"));
        }
        Ok(Token::Copy { length, distance })
    }

    fn push(&mut self, byte: u8) {
        let at = (self.produced as usize) & (WINDOW - 1);
        self.window[at] = byte;
        self.produced += 1;
    }

    /// Writes as much of the pending copy into `out` as fits.
    fn emit_copy(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.copy_left as usize);
        for slot in out.iter_mut().take(n) {
            let from =
                (self.produced.wrapping_sub(u64::from(self.copy_distance)) as usize) & (WINDOW - 1);
            let byte = self.window[from];
            self.push(byte);
            *slot = byte;
        }
        self.copy_left -= n as u32;
        n
    }

    fn remember(&mut self, failure: &Failure) {
        self.state = State::Failed(match failure {
            Failure::Malformed(m) => StoredFailure::Malformed(m.clone()),
            Failure::Io(e) => StoredFailure::Io(e.kind(), e.to_string()),
        });
    }
}

impl<R: Read> Read for Explode<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let State::Failed(failure) = &self.state {
            return Err(failure.to_io());
        }
        let mut n = 0;
        while n < out.len() {
            if self.copy_left > 0 {
                n += self.emit_copy(&mut out[n..]);
                continue;
            }
            let step = match self.state {
                State::Start => self.read_stream_header().map(|running| {
                    self.state = running;
                    None
                }),
                State::Running {
                    coded_literals,
                    distance_low_bits,
                } => self.next_token(coded_literals, distance_low_bits).map(Some),
                State::Ended | State::Failed(_) => break,
            };
            match step {
                Ok(None) => {}
                Ok(Some(Token::Literal(byte))) => {
                    self.push(byte);
                    out[n] = byte;
                    n += 1;
                }
                Ok(Some(Token::Copy { length, distance })) => {
                    self.copy_left = length;
                    self.copy_distance = distance;
                }
                Ok(Some(Token::End)) => self.state = State::Ended,
                Err(failure) => {
                    self.remember(&failure);
                    // Hand over what was decoded; the failure comes next call.
                    return if n > 0 { Ok(n) } else { Err(failure.into_io()) };
                }
            }
        }
        Ok(n)
    }
}

/// Bits to a byte sink, least significant bit of each byte first.
pub(crate) struct BitWriter<W: Write> {
    out: W,
    bits: u64,
    count: u32,
    pending: Vec<u8>,
}

impl<W: Write> BitWriter<W> {
    pub(crate) fn new(out: W) -> Self {
        BitWriter {
            out,
            bits: 0,
            count: 0,
            pending: Vec::with_capacity(8192),
        }
    }

    /// Appends the low `n` bits of `value` (n <= 32), lowest first.
    pub(crate) fn put(&mut self, value: u32, n: u32) -> io::Result<()> {
        let mask = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
        self.bits |= u64::from(value & mask) << self.count;
        self.count += n;
        while self.count >= 8 {
            self.pending.push((self.bits & 0xFF) as u8);
            self.bits >>= 8;
            self.count -= 8;
        }
        if self.pending.len() >= 8192 {
            self.out.write_all(&self.pending)?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Appends a Huffman code of `len` bits in stream order.
    pub(crate) fn put_code(&mut self, code: u32, len: u8) -> io::Result<()> {
        self.put(stream_bits(code, len), u32::from(len))
    }

    /// Pads the last byte with zero bits, writes everything and returns the
    /// sink.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if self.count > 0 {
            self.pending.push((self.bits & 0xFF) as u8);
        }
        self.out.write_all(&self.pending)?;
        Ok(self.out)
    }
}

/// Writes an implode stream made only of plain literals (header `00 06`):
/// about 12% larger than its input, which is fine for fixtures.
pub(crate) struct LiteralImploder<W: Write> {
    bits: BitWriter<W>,
}

impl<W: Write> LiteralImploder<W> {
    pub(crate) fn new(out: W) -> io::Result<Self> {
        let mut bits = BitWriter::new(out);
        bits.put(0, 8)?; // literals not coded
        bits.put(6, 8)?; // 4 KiB dictionary
        Ok(LiteralImploder { bits })
    }

    /// Writes the end code and, as the DATASUS files have, one spare byte
    /// after it.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        write_end_code(&mut self.bits)?;
        let mut out = self.bits.finish()?;
        out.write_all(&[0])?;
        Ok(out)
    }
}

impl<W: Write> Write for LiteralImploder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        for &byte in data {
            self.bits.put(0, 1)?;
            self.bits.put(u32::from(byte), 8)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The end code: a copy flag, the length symbol 15 and eight extra 1 bits
/// (264 + 255 = 519).
pub(crate) fn write_end_code<W: Write>(bits: &mut BitWriter<W>) -> io::Result<()> {
    let lengths = expand_lengths(&LENGTH_CODE_LENGTHS);
    let codes = canonical_codes(&lengths);
    bits.put(1, 1)?;
    bits.put_code(codes[END_SYMBOL], lengths[END_SYMBOL])?;
    bits.put(
        END_LENGTH - LENGTH_BASE[END_SYMBOL],
        LENGTH_EXTRA_BITS[END_SYMBOL],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explode_all(data: &[u8]) -> Result<Vec<u8>, io::Error> {
        let mut out = Vec::new();
        Explode::new(data, 0).read_to_end(&mut out)?;
        Ok(out)
    }

    /// A test encoder that can write every token of the format: coded or
    /// plain literals and copies, with any dictionary size.
    struct Encoder {
        bits: BitWriter<Vec<u8>>,
        coded_literals: bool,
        distance_low_bits: u32,
        literal: (Vec<u8>, Vec<u32>),
        length: (Vec<u8>, Vec<u32>),
        distance: (Vec<u8>, Vec<u32>),
    }

    fn code_table(compact: &[u8]) -> (Vec<u8>, Vec<u32>) {
        let lengths = expand_lengths(compact);
        let codes = canonical_codes(&lengths);
        (lengths, codes)
    }

    impl Encoder {
        fn new(coded_literals: bool, distance_low_bits: u32) -> Self {
            let mut bits = BitWriter::new(Vec::new());
            bits.put(u32::from(coded_literals), 8).unwrap();
            bits.put(distance_low_bits, 8).unwrap();
            Encoder {
                bits,
                coded_literals,
                distance_low_bits,
                literal: code_table(&LITERAL_CODE_LENGTHS),
                length: code_table(&LENGTH_CODE_LENGTHS),
                distance: code_table(&DISTANCE_CODE_LENGTHS),
            }
        }

        fn literal(&mut self, byte: u8) {
            self.bits.put(0, 1).unwrap();
            if self.coded_literals {
                let i = usize::from(byte);
                self.bits
                    .put_code(self.literal.1[i], self.literal.0[i])
                    .unwrap();
            } else {
                self.bits.put(u32::from(byte), 8).unwrap();
            }
        }

        fn copy(&mut self, length: u32, distance: u32) {
            let symbol = (0..16)
                .find(|&s| {
                    length >= LENGTH_BASE[s]
                        && length < LENGTH_BASE[s] + (1 << LENGTH_EXTRA_BITS[s])
                })
                .unwrap();
            self.bits.put(1, 1).unwrap();
            self.bits
                .put_code(self.length.1[symbol], self.length.0[symbol])
                .unwrap();
            self.bits
                .put(length - LENGTH_BASE[symbol], LENGTH_EXTRA_BITS[symbol])
                .unwrap();
            let low_bits = if length == 2 {
                2
            } else {
                self.distance_low_bits
            };
            let d = distance - 1;
            let high = (d >> low_bits) as usize;
            self.bits
                .put_code(self.distance.1[high], self.distance.0[high])
                .unwrap();
            self.bits.put(d & ((1 << low_bits) - 1), low_bits).unwrap();
        }

        fn finish(mut self) -> Vec<u8> {
            write_end_code(&mut self.bits).unwrap();
            self.bits.finish().unwrap()
        }
    }

    /// Greedy compressor with a brute-force match search: enough to put
    /// every length and distance symbol through the decoder.
    fn implode(data: &[u8], coded_literals: bool, distance_low_bits: u32) -> Vec<u8> {
        let dictionary = 64usize << distance_low_bits;
        let mut encoder = Encoder::new(coded_literals, distance_low_bits);
        let mut at = 0;
        while at < data.len() {
            let mut best = (0usize, 0usize);
            for distance in 1..=dictionary.min(at) {
                let max_len = 518.min(data.len() - at);
                let len = (0..max_len)
                    .take_while(|&k| data[at + k] == data[at + k - distance])
                    .count();
                let usable = len >= 3 || (len == 2 && distance <= 256);
                if usable && len > best.0 {
                    best = (len, distance);
                }
            }
            if best.0 >= 2 {
                encoder.copy(best.0 as u32, best.1 as u32);
                at += best.0;
            } else {
                encoder.literal(data[at]);
                at += 1;
            }
        }
        encoder.finish()
    }

    fn sample_text(n: usize) -> Vec<u8> {
        let mut state = 12345u32;
        (0..n)
            .map(|i| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let words: [&[u8]; 5] = [b"120040", b"JOS\xC9 ", b"20160101", b"   ", b"432"];
                let word = words[(state >> 16) as usize % words.len()];
                if (state >> 8).is_multiple_of(7) {
                    (state >> 3) as u8
                } else {
                    word[i % word.len()]
                }
            })
            .collect()
    }

    #[test]
    fn the_code_tables_are_complete_prefix_codes() {
        for (compact, symbols) in [
            (&LITERAL_CODE_LENGTHS[..], 256),
            (&LENGTH_CODE_LENGTHS[..], 16),
            (&DISTANCE_CODE_LENGTHS[..], 64),
        ] {
            let lengths = expand_lengths(compact);
            assert_eq!(lengths.len(), symbols);
            assert!(
                lengths
                    .iter()
                    .all(|&l| (1..=MAX_CODE_BITS as u8).contains(&l))
            );
            // Kraft sum exactly 1: every bit pattern decodes.
            let kraft: u32 = lengths
                .iter()
                .map(|&l| 1u32 << (MAX_CODE_BITS - u32::from(l)))
                .sum();
            assert_eq!(kraft, 1 << MAX_CODE_BITS);
            let table = DecodeTable::from_compact(compact);
            assert!(table.entries.iter().all(|e| e.bits > 0));
        }
    }

    #[test]
    fn explodes_the_reference_example() {
        // The corrected example of the format's description (blast.c).
        let stream = [0x00, 0x04, 0x82, 0x24, 0x25, 0x8f, 0x80, 0x7f];
        assert_eq!(explode_all(&stream).unwrap(), b"AIAIAIAIAIAIA");
    }

    #[test]
    fn explodes_coded_literals_from_an_independent_compressor() {
        // Made once by PKWare's implode (pklib, through the PyPI binding
        // `dclimplode`) in ASCII mode (coded literals) with a 2 KiB
        // dictionary: checks the literal code table against the original.
        let stream = [
            0x01, 0x05, 0x20, 0xc6, 0x65, 0x03, 0x21, 0x2f, 0x14, 0x7b, 0x11, 0x97, 0x27, 0x72,
            0x05, 0x40, 0x04, 0x48, 0x70, 0xf1, 0xbd, 0x04, 0x07, 0x17, 0x17, 0x0b, 0x77, 0xfb,
            0x28, 0xeb, 0x80, 0x7f,
        ];
        let expected = b"JOS\xC9 DA CONCEI\xC7\xC3O, 120040, JOS\xC9 DA CONCEI\xC7\xC3O";
        assert_eq!(explode_all(&stream).unwrap(), expected);
    }

    #[test]
    fn literal_stream_round_trips_and_tolerates_the_trailing_byte() {
        let data = sample_text(10_000);
        let mut imploder = LiteralImploder::new(Vec::new()).unwrap();
        imploder.write_all(&data).unwrap();
        let stream = imploder.finish().unwrap();
        assert_eq!(&stream[..2], &[0x00, 0x06]);
        assert_eq!(explode_all(&stream).unwrap(), data);
    }

    #[test]
    fn coded_literals_and_copies_round_trip_for_every_dictionary_size() {
        let mut data = sample_text(3_000);
        data.extend(std::iter::repeat_n(b' ', 1_500)); // long copies at distance 1
        data.extend(sample_text(300));
        for coded in [false, true] {
            for low_bits in 4..=6 {
                let stream = implode(&data, coded, low_bits);
                assert!(stream.len() < data.len(), "the encoder found matches");
                assert_eq!(
                    explode_all(&stream).unwrap(),
                    data,
                    "coded {coded}, dict {low_bits}"
                );
            }
        }
    }

    #[test]
    fn small_reads_see_the_same_bytes() {
        let data = sample_text(5_000);
        let stream = implode(&data, true, 6);
        let mut explode = Explode::new(&stream[..], 0);
        let mut out = Vec::new();
        let mut chunk = [0u8; 7];
        loop {
            let n = explode.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(out, data);
    }

    #[test]
    fn bad_headers_are_refused_with_the_offset() {
        let err = explode_all(&[2, 6, 0, 0]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("literal coding"), "{err}");
        let err = explode_all(&[0, 7, 0, 0]).unwrap_err();
        assert!(err.to_string().contains("dictionary size"), "{err}");
        let err = explode_all(&[0]).unwrap_err();
        assert!(err.to_string().contains("too short"), "{err}");
        let mut explode = Explode::new(&[0u8, 9][..], 1000);
        let err = explode.read(&mut [0; 4]).unwrap_err();
        assert!(err.to_string().contains("near byte 1001"), "{err}");
    }

    #[test]
    fn a_copy_before_the_start_is_refused() {
        let mut encoder = Encoder::new(false, 6);
        encoder.literal(b'A');
        encoder.copy(5, 2);
        let err = explode_all(&encoder.finish()).unwrap_err();
        assert!(err.to_string().contains("before the start"), "{err}");
    }

    #[test]
    fn a_stream_without_end_code_is_refused_after_its_data() {
        let mut imploder = LiteralImploder::new(Vec::new()).unwrap();
        imploder.write_all(b"0123456789").unwrap();
        let stream = imploder.bits.finish().unwrap(); // no end code
        let mut explode = Explode::new(&stream[..], 0);
        let mut out = vec![0u8; 64];
        assert_eq!(explode.read(&mut out).unwrap(), 10);
        assert_eq!(&out[..10], b"0123456789");
        let err = explode.read(&mut out).unwrap_err();
        assert!(
            err.to_string().contains("ends before its end code"),
            "{err}"
        );
        // The failure sticks.
        assert!(explode.read(&mut out).is_err());
    }

    #[test]
    fn damaged_streams_fail_or_end_but_never_panic_or_hang() {
        let data = sample_text(3_000);
        let clean = implode(&data, true, 5);
        let mut state = 7u32;
        for _ in 0..300 {
            let mut stream = clean.clone();
            for _ in 0..3 {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let at = 2 + (state >> 8) as usize % (stream.len() - 2);
                stream[at] ^= 1 << ((state >> 4) % 8);
            }
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            stream.truncate(2 + (state >> 8) as usize % (stream.len() - 1));
            let mut out = Vec::new();
            let result = Explode::new(&stream[..], 0).read_to_end(&mut out);
            // Output is bounded by the largest expansion a bit can give.
            assert!(out.len() <= stream.len() * 8 * 518);
            if let Err(e) = result {
                assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            }
        }
    }

    #[test]
    fn an_expanding_bomb_streams_through_the_window() {
        // One literal, then 20k copies of 518 bytes: ~10 MB from ~60 KB.
        let copies = 20_000u64;
        let mut encoder = Encoder::new(false, 6);
        encoder.literal(b'x');
        for _ in 0..copies {
            encoder.copy(518, 1);
        }
        let stream = encoder.finish();
        let mut explode = Explode::new(&stream[..], 0);
        let mut chunk = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = explode.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            assert!(chunk[..n].iter().all(|&b| b == b'x'));
            total += n as u64;
        }
        assert_eq!(total, 1 + copies * 518);
        assert_eq!(explode.window.len(), WINDOW);
    }
}
