//! Does an RTP packet start a keyframe? Read from the payload format's own header, without depacketizing.
//!
//! A new subscriber of a video track is sent nothing until a keyframe starts: the frames before it cannot be
//! decoded, and a receiver that starts on a delta frame shows garbage or nothing until the next keyframe anyway.
//! Only the codecs the server negotiates in practice are read; for any other the answer is "don't know" and the
//! subscriber is not held back.

use str0m::format::Codec;

/// `Some(true)` when the packet carries the start of a keyframe (for H.264, of the parameter sets or the IDR
/// picture that begins one), `Some(false)` when it does not, `None` when the codec is not one this can read.
pub(crate) fn starts_keyframe(codec: Codec, payload: &[u8]) -> Option<bool> {
    match codec {
        Codec::Vp8 => Some(vp8(payload)),
        Codec::H264 => Some(h264(payload)),
        _ => None,
    }
}

/// RFC 7741 §4.2: the payload descriptor, then (at the start of partition 0) the VP8 frame header, whose lowest
/// bit P is 0 for a keyframe.
fn vp8(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let extended = first & 0x80 != 0;
    let start = first & 0x10 != 0;
    let partition = first & 0x07;
    if !start || partition != 0 {
        return false;
    }
    let mut at = 1;
    if extended {
        let Some(&x) = payload.get(at) else {
            return false;
        };
        at += 1;
        if x & 0x80 != 0 {
            // PictureID: 7 bits, or 15 when its M bit is set.
            let Some(&pic) = payload.get(at) else {
                return false;
            };
            at += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            at += 1; // TID / Y / KEYIDX
        }
    }
    payload.get(at).is_some_and(|header| header & 0x01 == 0)
}

const H264_IDR: u8 = 5;
const H264_SPS: u8 = 7;
const H264_STAP_A: u8 = 24;
const H264_FU_A: u8 = 28;

/// RFC 6184 §5.2: a single NAL unit, an aggregation (STAP-A) or a fragment (FU-A) of one.
fn h264(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let keyframe_nal = |t: u8| t == H264_IDR || t == H264_SPS;
    match first & 0x1f {
        H264_STAP_A => {
            let mut rest = &payload[1..];
            while rest.len() > 2 {
                let size = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                let Some(nal) = rest.get(2..2 + size) else {
                    return false;
                };
                if nal.first().is_some_and(|b| keyframe_nal(b & 0x1f)) {
                    return true;
                }
                rest = &rest[2 + size..];
            }
            false
        }
        H264_FU_A => payload.get(1).is_some_and(|fu| fu & 0x80 != 0 && keyframe_nal(fu & 0x1f)),
        t => keyframe_nal(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframes_start_partition_zero_with_p_clear() {
        // Plain descriptor: S bit, partition 0; then the frame header.
        assert_eq!(starts_keyframe(Codec::Vp8, &[0x10, 0x00, 0x9d]), Some(true));
        assert_eq!(starts_keyframe(Codec::Vp8, &[0x10, 0x01, 0x9d]), Some(false));
        // Not the start of the frame, or another partition.
        assert_eq!(starts_keyframe(Codec::Vp8, &[0x00, 0x00]), Some(false));
        assert_eq!(starts_keyframe(Codec::Vp8, &[0x11, 0x00]), Some(false));
        // Extended: 15-bit PictureID, TL0PICIDX and TID before the header.
        assert_eq!(starts_keyframe(Codec::Vp8, &[0x90, 0xe0, 0x80, 0x01, 0x05, 0x20, 0x00]), Some(true));
        assert_eq!(starts_keyframe(Codec::Vp8, &[0x90, 0xe0, 0x80, 0x01, 0x05, 0x20, 0x01]), Some(false));
        // 7-bit PictureID only.
        assert_eq!(starts_keyframe(Codec::Vp8, &[0x90, 0x80, 0x05, 0x10]), Some(true));
        // Truncated or empty: not a keyframe, never a panic.
        for short in [&[][..], &[0x10], &[0x90], &[0x90, 0x80], &[0x90, 0x80, 0x85]] {
            assert_eq!(starts_keyframe(Codec::Vp8, short), Some(false), "{short:?}");
        }
    }

    #[test]
    fn h264_keyframes_start_with_parameter_sets_or_an_idr() {
        let h264 = |payload: &[u8]| starts_keyframe(Codec::H264, payload);
        // Single NAL units: SPS, IDR slice, non-IDR slice.
        assert_eq!(h264(&[0x67, 0x42]), Some(true));
        assert_eq!(h264(&[0x65, 0x88]), Some(true));
        assert_eq!(h264(&[0x41, 0x9a]), Some(false));
        // STAP-A: SPS and PPS aggregated; a non-IDR slice alone; a size past the end.
        assert_eq!(h264(&[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce]), Some(true));
        assert_eq!(h264(&[0x78, 0x00, 0x02, 0x41, 0x42]), Some(false));
        assert_eq!(h264(&[0x78, 0x00, 0x09, 0x67]), Some(false));
        // FU-A: only the first fragment of an IDR.
        assert_eq!(h264(&[0x7c, 0x85, 0x88]), Some(true));
        assert_eq!(h264(&[0x7c, 0x05, 0x88]), Some(false));
        assert_eq!(h264(&[0x7c, 0x81, 0x88]), Some(false));
        assert_eq!(h264(&[0x7c]), Some(false));
    }

    #[test]
    fn other_codecs_are_not_read() {
        assert_eq!(starts_keyframe(Codec::Vp9, &[0x88, 0x00]), None);
        assert_eq!(starts_keyframe(Codec::Opus, &[0xf8]), None);
    }
}
