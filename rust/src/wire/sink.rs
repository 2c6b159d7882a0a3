//! `HeaderSink`: where an event writes its header strings on the way into a
//! request (`AsEvent::write_headers`). Each string is measured, checked for
//! bytes above ASCII and copied in one pass over it; the length prefix is
//! written by the same call.

use std::ffi::c_char;

use super::Cursor;

/// The top bit of each byte of a word: a string is ASCII if none is set in
/// the OR of its bytes.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Writes an event's header strings, each with its length prefix, into the
/// request being encoded, and notes whether every byte was ASCII (the
/// client checks the UTF-8 of an event only when one was not).
///
/// An implementation of `AsEvent::write_headers` calls `string` or
/// `c_string` exactly twice per header (key, then value), `header_count()`
/// headers in order; the encoder checks the count.
pub struct HeaderSink<'a> {
    pub(super) buf: Cursor<'a>,
    /// The OR of the strings' bytes (in some of its 8 lanes).
    pub(super) high: u64,
    /// The top bits of C strings' bytes, a bit per byte (`Stage::copy_short`).
    high_lanes: u32,
    /// Strings written for the current event.
    pub(super) strings: usize,
    /// Bytes of compact length prefixes beyond one byte each (strings of
    /// 128 bytes or more, which only `long_string` writes).
    long_prefixes: usize,
    /// Compact protocol (varint prefixes); else binary (4-byte big-endian prefixes).
    compact: bool,
}

impl<'a> HeaderSink<'a> {
    pub(super) fn new(buf: Cursor<'a>, compact: bool) -> HeaderSink<'a> {
        HeaderSink { buf, high: 0, high_lanes: 0, strings: 0, long_prefixes: 0, compact }
    }

    /// Whether every string written since `high` was last cleared is ASCII.
    pub(super) fn ascii(&self) -> bool {
        self.high & HIGH_BITS == 0 && self.high_lanes == 0
    }

    /// The bytes of the length prefixes written: one per string in compact
    /// (more for long strings), four in binary.
    pub(super) fn prefix_bytes(&self) -> usize {
        self.strings * if self.compact { 1 } else { 4 } + self.long_prefixes
    }

    /// Writes a string given as bytes.
    #[inline]
    pub fn string(&mut self, s: &[u8]) {
        let mut state = self.state();
        if self.compact {
            self.string_with::<true>(&mut state, s);
        } else {
            self.string_with::<false>(&mut state, s);
        }
        self.set_state(state);
        self.strings += 1;
    }

    /// Writes headers given as (key, value) pairs of bytes, as `string` does.
    #[inline(always)]
    pub fn headers<'h>(&mut self, headers: impl Iterator<Item = (&'h [u8], &'h [u8])>) {
        if self.compact {
            self.headers_with::<true>(headers);
        } else {
            self.headers_with::<false>(headers);
        }
    }

    #[inline(always)]
    fn headers_with<'h, const COMPACT: bool>(&mut self, headers: impl Iterator<Item = (&'h [u8], &'h [u8])>) {
        // The state in locals for the whole loop, as in `c_headers_with`.
        let mut state = self.state();
        let mut strings = 0;
        for (key, value) in headers {
            self.string_with::<COMPACT>(&mut state, key);
            self.string_with::<COMPACT>(&mut state, value);
            strings += 2;
        }
        self.set_state(state);
        self.strings += strings;
    }

    #[inline(always)]
    fn string_with<const COMPACT: bool>(&mut self, state: &mut State, s: &[u8]) {
        let len = s.len();
        if len >= SHORT || (state.end as usize - state.at as usize) < SHORT + 4 {
            return self.long_string::<COMPACT>(state, s);
        }
        // SAFETY: `SHORT + 4` bytes from `at` are writable; `copy_short`
        // reads the `len` bytes of `s`.
        unsafe {
            let prefix_len = write_short_prefix(state.at, len, COMPACT);
            state.high |= copy_short(state.at.add(prefix_len), s.as_ptr(), len);
            state.at = state.at.add(prefix_len + len);
        }
    }

    /// Writes `s` on the slow path (`long_string`), which leaves room for
    /// the fast paths of the next strings.
    #[inline(always)]
    fn long_string<const COMPACT: bool>(&mut self, state: &mut State, s: &[u8]) {
        let high_lanes = state.high_lanes;
        let long_prefix;
        (*state, long_prefix) = long_string(self.buf.vec, *state, s, COMPACT);
        // Kept here rather than taken from the call: the byte strings' loop
        // then carries no `high_lanes` of its own.
        state.high_lanes = high_lanes;
        // It may have moved the buffer.
        (self.buf.ptr, self.buf.cap) = (self.buf.vec.as_mut_ptr(), self.buf.vec.capacity());
        self.long_prefixes += long_prefix;
    }

    /// Writes a NUL-terminated string (without its NUL), measuring it as it
    /// goes: no `strlen` beforehand.
    ///
    /// # Safety
    /// `s` must point to a NUL-terminated string that stays unchanged during the call.
    #[inline]
    pub unsafe fn c_string(&mut self, s: *const c_char) {
        let mut state = self.room_for_c_strings(self.state());
        let mut stage = Stage::new();
        if self.compact {
            self.c_string_with::<true>(&mut state, &mut stage, s);
        } else {
            self.c_string_with::<false>(&mut state, &mut stage, s);
        }
        self.set_state(state);
        self.strings += 1;
    }

    /// Writes headers given as (key, value) pairs of NUL-terminated strings,
    /// as `c_string` does. Fails with the index of the first header with a
    /// NULL key or value (after writing the headers before it).
    ///
    /// # Safety
    /// Each non-NULL pointer must point to a NUL-terminated string that stays
    /// unchanged during the call.
    #[inline(always)]
    pub unsafe fn c_headers(&mut self, headers: &[[*const c_char; 2]]) -> std::result::Result<(), usize> {
        if self.compact {
            self.c_headers_with::<true>(headers)
        } else {
            self.c_headers_with::<false>(headers)
        }
    }

    #[inline(always)]
    unsafe fn c_headers_with<const COMPACT: bool>(
        &mut self,
        headers: &[[*const c_char; 2]],
    ) -> std::result::Result<(), usize> {
        // The state in locals for the whole loop: the stores through raw
        // pointers could otherwise alias it and force reloads.
        let mut state = self.state();
        let mut stage = Stage::new();
        let (first, end) = (headers.as_ptr(), headers.as_ptr().add(headers.len()));
        let mut pair = first;
        while pair != end {
            let [key, value] = *pair;
            if key.is_null() | value.is_null() {
                self.set_state(state);
                return Err(pair.offset_from(first) as usize);
            }
            // One test of the room for both strings' fast paths (a slow
            // path leaves room for the fast paths after it).
            if (state.end as usize - state.at as usize) < 2 * C_STRING_ROOM {
                state = self.room_for_c_strings(state);
            }
            self.c_string_with::<COMPACT>(&mut state, &mut stage, key);
            self.c_string_with::<COMPACT>(&mut state, &mut stage, value);
            pair = pair.add(1);
        }
        self.set_state(state);
        self.strings += 2 * headers.len();
        Ok(())
    }

    /// Makes room for two C strings' fast paths at `state.at` (`make_room`).
    #[inline(always)]
    fn room_for_c_strings(&mut self, state: State) -> State {
        let state = make_room(self.buf.vec, state);
        (self.buf.ptr, self.buf.cap) = (self.buf.vec.as_mut_ptr(), self.buf.vec.capacity());
        state
    }

    /// Writes the C string `s`, with room for `C_STRING_ROOM` bytes at
    /// `state.at`. Its slow path leaves room for two more after it.
    #[inline(always)]
    unsafe fn c_string_with<const COMPACT: bool>(&mut self, state: &mut State, stage: &mut Stage, s: *const c_char) {
        let s = s.cast::<u8>();
        let prefix_len = if COMPACT { 1 } else { 4 };
        // SAFETY: `C_STRING_ROOM` bytes from `at` are writable.
        let Some((len, lanes)) = stage.copy_short(state.at.add(prefix_len), s) else {
            let long_prefix;
            (*state, long_prefix) = long_c_string(self.buf.vec, *state, s, COMPACT);
            (self.buf.ptr, self.buf.cap) = (self.buf.vec.as_mut_ptr(), self.buf.vec.capacity());
            self.long_prefixes += long_prefix;
            return;
        };
        if COMPACT {
            state.at.write(len as u8);
        } else {
            state.at.cast::<u32>().write_unaligned((len as u32).to_be());
        }
        state.at = state.at.add(prefix_len + len);
        state.high_lanes |= lanes;
    }

    fn state(&self) -> State {
        // SAFETY: `pos` and `cap` are within the buffer.
        unsafe {
            State {
                at: self.buf.ptr.add(self.buf.pos),
                end: self.buf.ptr.add(self.buf.cap),
                high: self.high,
                high_lanes: self.high_lanes,
            }
        }
    }

    fn set_state(&mut self, state: State) {
        self.buf.pos = state.at as usize - self.buf.ptr as usize;
        self.high = state.high;
        self.high_lanes = state.high_lanes;
    }
}

/// A string the fast paths do not take: a long one, or one with too little
/// room left. It leaves room for the fast paths of the next strings. Returns
/// the new state and the bytes its compact prefix takes beyond one. It takes the
/// state, not the sink: the sink's address never escapes, so its fields
/// stay in registers.
#[cold]
#[inline(never)]
fn long_string(vec: &mut Vec<u8>, state: State, s: &[u8], compact: bool) -> (State, usize) {
    let (ptr, cap) = (vec.as_mut_ptr(), vec.capacity());
    let mut buf = Cursor { pos: state.at as usize - ptr as usize, vec, ptr, cap };
    let before = buf.pos;
    prefix(&mut buf, s.len(), compact);
    let long_prefix = if compact { buf.pos - before - 1 } else { 0 };
    let high = state.high | buf.extend_from_slice_high(s);
    buf.room(2 * (SHORT + 4));
    // SAFETY: `pos` and `cap` are within the buffer.
    let state = unsafe { State { at: buf.ptr.add(buf.pos), end: buf.ptr.add(buf.cap), high, ..state } };
    (state, long_prefix)
}

/// `long_string` of a C string, whose bytes' top bits go to `high_lanes`:
/// the C strings' loop then leaves `high` alone, in a register or none.
#[cold]
#[inline(never)]
unsafe fn long_c_string(vec: &mut Vec<u8>, state: State, s: *const u8, compact: bool) -> (State, usize) {
    let s = std::slice::from_raw_parts(s, c_len(s));
    let (written, long_prefix) = long_string(vec, State { high: 0, ..state }, s, compact);
    let high_lanes = state.high_lanes | u32::from(written.high & HIGH_BITS != 0);
    (State { high: state.high, high_lanes, ..written }, long_prefix)
}

/// Makes room at `state.at` for the fast paths of two strings, and for more.
#[cold]
#[inline(never)]
fn make_room(vec: &mut Vec<u8>, state: State) -> State {
    let (ptr, cap) = (vec.as_mut_ptr(), vec.capacity());
    let mut buf = Cursor { pos: state.at as usize - ptr as usize, vec, ptr, cap };
    buf.room(2 * (SHORT + 4));
    // SAFETY: `pos` and `cap` are within the buffer.
    unsafe { State { at: buf.ptr.add(buf.pos), end: buf.ptr.add(buf.cap), ..state } }
}

/// Writes `len` as a length prefix: a varint (compact) or 4 bytes big-endian (binary).
fn prefix(buf: &mut Cursor<'_>, len: usize, compact: bool) {
    if compact {
        let mut v = len as u64;
        while v >= 0x80 {
            buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    } else {
        buf.extend_from_slice(&(len as i32).to_be_bytes());
    }
}

/// `HeaderSink`'s state while it writes C strings.
#[derive(Clone, Copy)]
struct State {
    /// Where the next string goes.
    at: *mut u8,
    /// The end of the buffer's capacity.
    end: *mut u8,
    high: u64,
    high_lanes: u32,
}

/// Strings shorter than this take the fast paths of `string` and `c_string`.
const SHORT: usize = 128;

/// Writes the length prefix of a string shorter than `SHORT` at `at` and
/// returns its length: 4 bytes stored either way, a compact one-byte varint
/// (the string overwrites the other 3) or a binary big-endian length.
///
/// # Safety
/// `at` writable for 4 bytes.
#[inline(always)]
unsafe fn write_short_prefix(at: *mut u8, len: usize, compact: bool) -> usize {
    let (word, prefix_len) = if compact { (len as u32, 1) } else { ((len as u32).to_be(), 4) };
    at.cast::<u32>().write_unaligned(word);
    prefix_len
}

/// Copies `len` (< `SHORT`) bytes from `src` to `dst` and returns their OR
/// (in some of its 8 byte lanes), taken from the copy's own loads: short
/// strings in two overlapping moves, without a call to `memcpy`.
///
/// # Safety
/// `src` readable and `dst` writable for `len` bytes.
#[inline(always)]
unsafe fn copy_short(dst: *mut u8, src: *const u8, len: usize) -> u64 {
    if len <= 16 {
        if len >= 8 {
            let (a, b) = (src.cast::<u64>().read_unaligned(), src.add(len - 8).cast::<u64>().read_unaligned());
            dst.cast::<u64>().write_unaligned(a);
            dst.add(len - 8).cast::<u64>().write_unaligned(b);
            return a | b;
        }
        if len >= 4 {
            let (a, b) = (src.cast::<u32>().read_unaligned(), src.add(len - 4).cast::<u32>().read_unaligned());
            dst.cast::<u32>().write_unaligned(a);
            dst.add(len - 4).cast::<u32>().write_unaligned(b);
            return u64::from(a | b);
        }
        let mut high = 0;
        for i in 0..len {
            let byte = *src.add(i);
            *dst.add(i) = byte;
            high |= u64::from(byte);
        }
        return high;
    }
    if len <= 32 {
        let (a, b) = (src.cast::<u128>().read_unaligned(), src.add(len - 16).cast::<u128>().read_unaligned());
        dst.cast::<u128>().write_unaligned(a);
        dst.add(len - 16).cast::<u128>().write_unaligned(b);
        let ab = a | b;
        return ab as u64 | (ab >> 64) as u64;
    }
    std::ptr::copy_nonoverlapping(src, dst, len);
    super::call::high_bits(std::slice::from_raw_parts(src, len))
}

/// Bytes that the fast path of a C string may write: its length prefix and
/// two 16-byte moves.
const C_STRING_ROOM: usize = 4 + 32;

/// Where a short C string is moved on its way from its aligned blocks to the
/// request: the blocks are stored here whole and the string loaded back from
/// its offset, which copies it without reading a byte outside the blocks (an
/// unaligned load from the string itself could read past its allocation)
/// and without branching on its length. The third block is only read: the
/// second load of a string that ends in the second block reaches into it.
/// Bytes past the string are moved along and overwritten by what follows.
#[repr(C, align(16))]
struct Stage([u8; 48]);

impl Stage {
    fn new() -> Stage {
        Stage([0; 48])
    }

    /// Copies the NUL-terminated string at `s` (without its NUL) to `dst`
    /// and returns its length and the top bits of its bytes (bit i for byte
    /// i), if it ends within the aligned 32 bytes from its first block;
    /// else writes nothing and returns `None`. It writes up to 32 bytes at
    /// `dst` whatever the length.
    ///
    /// # Safety
    /// `s` NUL-terminated, `dst` writable for 32 bytes.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline(always)]
    unsafe fn copy_short(&mut self, dst: *mut u8, s: *const u8) -> Option<(usize, u32)> {
        use std::arch::x86_64::{_mm_loadu_si128, _mm_movemask_epi8, _mm_store_si128, _mm_storeu_si128};
        let off = s as usize & 15;
        let block = s.wrapping_sub(off);
        let stage = self.0.as_mut_ptr();
        let first = load_block(block);
        _mm_store_si128(stage.cast(), first);
        // Lanes before the string's start shifted out.
        let zeros = zero_lanes(first) >> off;
        if zeros != 0 {
            let len = zeros.trailing_zeros() as usize;
            let string = _mm_loadu_si128(stage.add(off).cast());
            _mm_storeu_si128(dst.cast(), string);
            return Some((len, _mm_movemask_epi8(string) as u32 & LOW_LANES[len]));
        }
        let second = load_block(block.wrapping_add(16));
        let zeros = zero_lanes(second);
        if zeros == 0 {
            return None;
        }
        let len = 16 - off + zeros.trailing_zeros() as usize; // < 32
        _mm_store_si128(stage.add(16).cast(), second);
        let (head, tail) = (_mm_loadu_si128(stage.add(off).cast()), _mm_loadu_si128(stage.add(off + 16).cast()));
        _mm_storeu_si128(dst.cast(), head);
        _mm_storeu_si128(dst.add(16).cast(), tail);
        let top = (_mm_movemask_epi8(tail) as u32) << 16 | _mm_movemask_epi8(head) as u32;
        Some((len, top & LOW_LANES[len]))
    }

    /// Other targets: every C string takes the long path.
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    #[inline(always)]
    unsafe fn copy_short(&mut self, _dst: *mut u8, _s: *const u8) -> Option<(usize, u32)> {
        None
    }
}

/// `LOW_LANES[n]`: the lowest n bits set (a table: a shift by a variable
/// count costs more on x86-64 without BMI2).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
const LOW_LANES: [u32; 32] = {
    let mut masks = [0; 32];
    let mut n = 0;
    while n < 32 {
        masks[n] = (1 << n) - 1;
        n += 1;
    }
    masks
};

/// The length of a NUL-terminated string.
unsafe fn c_len(s: *const u8) -> usize {
    libc::strlen(s.cast())
}

/// The aligned 16 bytes at `block`.
///
/// Aligned, they never straddle a page: readable when any byte of them is
/// (the string's first byte or its NUL). They may extend past the string's
/// allocation, which a Rust load may not do; an `asm` load makes no such
/// claim to the compiler. (Memory checkers accept aligned loads partly
/// outside a block, as glibc's `strlen` makes them.)
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
unsafe fn load_block(block: *const u8) -> std::arch::x86_64::__m128i {
    let v;
    std::arch::asm!(
        "movdqa {v}, xmmword ptr [{p}]",
        p = in(reg) block,
        v = out(xmm_reg) v,
        options(pure, readonly, nostack, preserves_flags)
    );
    v
}

/// Bit i set for each zero byte i of `v`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn zero_lanes(v: std::arch::x86_64::__m128i) -> u32 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_setzero_si128};
    // SAFETY: SSE2 is enabled (the cfg).
    unsafe { _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128())) as u32 }
}

#[cfg(test)]
mod tests {
    use super::HeaderSink;
    use crate::wire::Cursor;

    fn written(strings: &[&[u8]], compact: bool) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut sink = HeaderSink::new(Cursor::new(&mut out, 0), compact);
        for s in strings {
            let mut c = s.to_vec();
            c.push(0);
            unsafe { sink.c_string(c.as_ptr().cast()) };
        }
        let ascii = sink.ascii();
        drop(sink);
        (out, ascii)
    }

    #[test]
    fn c_strings_of_every_length_and_alignment_are_measured_copied_and_checked() {
        // A pool with strings at every offset of an aligned block.
        for compact in [true, false] {
            for len in 0..70usize {
                for off in 0..16usize {
                    for high_at in [None, Some(0), Some(len / 2), Some(len.saturating_sub(1))] {
                        let mut pool = [0u8; 128];
                        let base = pool.as_ptr() as usize;
                        let start = (16 - base % 16) % 16 + off;
                        let mut s: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                        if let (Some(at), true) = (high_at, len > 0) {
                            s[at] = 0xc3;
                        }
                        pool[start..start + len].copy_from_slice(&s);
                        pool[start + len] = 0;
                        // Bytes above ASCII after the NUL must not count.
                        pool[start + len + 1..].fill(0xff);
                        let mut out = Vec::new();
                        let mut sink = HeaderSink::new(Cursor::new(&mut out, 0), compact);
                        unsafe { sink.c_string(pool[start..].as_ptr().cast()) };
                        let ascii = sink.ascii();
                        drop(sink);
                        let mut expected = Vec::new();
                        if compact {
                            expected.push(len as u8);
                        } else {
                            expected.extend_from_slice(&(len as u32).to_be_bytes());
                        }
                        expected.extend_from_slice(&s);
                        assert_eq!(out, expected, "len {len}, offset {off}");
                        assert_eq!(ascii, high_at.is_none() || len == 0, "len {len}, offset {off}, {high_at:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn consecutive_c_strings_follow_each_other_and_long_ones_get_a_long_prefix() {
        let long = vec![b'x'; 300];
        let (out, ascii) = written(&[b"host", b"web-17.example.com", &long, b""], true);
        assert!(ascii);
        let mut expected = vec![4];
        expected.extend_from_slice(b"host");
        expected.push(18);
        expected.extend_from_slice(b"web-17.example.com");
        expected.extend_from_slice(&[0xac, 0x02]); // 300 as a varint
        expected.extend_from_slice(&long);
        expected.push(0);
        assert_eq!(out, expected);
    }

    #[test]
    fn byte_strings_are_prefixed_copied_and_checked() {
        let mut out = Vec::new();
        let mut sink = HeaderSink::new(Cursor::new(&mut out, 0), false);
        sink.string(b"key");
        assert!(sink.ascii());
        sink.string("välue".as_bytes());
        assert!(!sink.ascii());
        drop(sink);
        let mut expected = vec![0, 0, 0, 3];
        expected.extend_from_slice(b"key");
        expected.extend_from_slice(&[0, 0, 0, 6]);
        expected.extend_from_slice("välue".as_bytes());
        assert_eq!(out, expected);
    }
}
