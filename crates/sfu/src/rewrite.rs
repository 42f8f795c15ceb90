//! Per-subscriber RTP sequence number and timestamp rewriting.
//!
//! A subscriber's outgoing stream must start with a small sequence number: str0m derives the SRTP rollover counter
//! from the extended number it is given, and a receiver that joins late starts at ROC 0, so forwarding a
//! long-running publisher's numbers as they are would make SRTP authentication fail (see `RtpWrite::new`). The
//! stream must also stay contiguous when the publisher's SSRC changes (a restarted encoder), or the receiver would
//! count a huge loss and its jitter buffer would stall. Losses upstream stay visible as gaps, so NACKs still work.

use str0m::rtp::{SeqNo, Ssrc};

/// Where the first forwarded packet of a subscription lands.
const FIRST_SEQ: u64 = 1;

#[derive(Debug, Default)]
pub(crate) struct SeqRewriter {
    source: Option<Source>,
    /// Highest sequence number and its timestamp written so far.
    last: Option<(u64, u32)>,
}

#[derive(Debug)]
struct Source {
    ssrc: Ssrc,
    /// Outgoing = incoming + `seq_offset` (incoming is str0m's extended number).
    seq_offset: i64,
    ts_offset: u32,
}

impl SeqRewriter {
    /// The outgoing (extended sequence number, RTP timestamp) for an incoming packet, or `None` for a packet older
    /// than the start of this subscription (it would land before the first forwarded number).
    pub(crate) fn rewrite(&mut self, ssrc: Ssrc, seq: SeqNo, timestamp: u32) -> Option<(SeqNo, u32)> {
        let seq = *seq as i64;
        if self.source.as_ref().is_none_or(|s| s.ssrc != ssrc) {
            // First packet, or the publisher switched SSRC: continue right after what was last written.
            let (seq_offset, ts_offset) = match self.last {
                None => (FIRST_SEQ as i64 - seq, 0),
                Some((last_seq, last_ts)) => {
                    (last_seq as i64 + 1 - seq, last_ts.wrapping_add(1).wrapping_sub(timestamp))
                }
            };
            self.source = Some(Source { ssrc, seq_offset, ts_offset });
        }
        let source = self.source.as_ref().expect("set above");
        let out = seq + source.seq_offset;
        if out < FIRST_SEQ as i64 {
            return None;
        }
        let out = out as u64;
        let ts = timestamp.wrapping_add(source.ts_offset);
        if self.last.is_none_or(|(last, _)| out > last) {
            self.last = Some((out, ts));
        }
        Some((out.into(), ts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(r: &mut SeqRewriter, ssrc: u32, seq: u64, ts: u32) -> Option<(u64, u32)> {
        r.rewrite(ssrc.into(), seq.into(), ts).map(|(s, t)| (*s, t))
    }

    #[test]
    fn starts_small_and_keeps_gaps_and_order() {
        let mut r = SeqRewriter::default();
        assert_eq!(run(&mut r, 7, 200_000, 9000), Some((1, 9000)));
        assert_eq!(run(&mut r, 7, 200_001, 9960), Some((2, 9960)));
        // A loss upstream stays a gap, a late packet lands in it.
        assert_eq!(run(&mut r, 7, 200_004, 12840), Some((5, 12840)));
        assert_eq!(run(&mut r, 7, 200_003, 11880), Some((4, 11880)));
        // Older than the subscription's first packet: dropped.
        assert_eq!(run(&mut r, 7, 199_999, 8040), None);
    }

    #[test]
    fn ssrc_switch_continues_the_stream() {
        let mut r = SeqRewriter::default();
        run(&mut r, 7, 10, 1000);
        run(&mut r, 7, 11, 2000);
        assert_eq!(run(&mut r, 8, 50_000, 77), Some((3, 2001)));
        assert_eq!(run(&mut r, 8, 50_001, 1077), Some((4, 3001)));
    }

    #[test]
    fn timestamps_wrap() {
        let mut r = SeqRewriter::default();
        run(&mut r, 7, 10, u32::MAX - 10);
        assert_eq!(run(&mut r, 8, 1, 5), Some((2, u32::MAX - 9)));
        assert_eq!(run(&mut r, 8, 2, 25), Some((3, 10)));
    }
}
