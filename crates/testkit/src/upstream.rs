//! Values the upstream Java parser library asserts for its real GetMedia captures
//! (`../shared/conformance/kvs-java/EXPECTED.md`): an oracle that owes nothing to this project.

/// One fragment of `kvs-java/output_get_media.mkv` as EXPECTED.md lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// `AWS_KINESISVIDEO_FRAGMENT_NUMBER` (also the continuation token at its end).
    pub number: &'static str,
    /// `AWS_KINESISVIDEO_SERVER_TIMESTAMP`, as the service writes it.
    pub server: &'static str,
    /// `AWS_KINESISVIDEO_PRODUCER_TIMESTAMP`, as the service writes it.
    pub producer: &'static str,
    /// `AWS_KINESISVIDEO_MILLIS_BEHIND_NOW`.
    pub millis_behind_now: u64,
    /// The Cluster Timecode, in milliseconds.
    pub cluster_ms: u64,
}

/// The five fragments of `kvs-java/output_get_media.mkv`, in order.
pub const OUTPUT_GET_MEDIA: [Fragment; 5] = [
    Fragment {
        number: "91343852333181432392682062607743920146159169392",
        server: "1511852109.126",
        producer: "1511852108.513",
        millis_behind_now: 15858,
        cluster_ms: 0,
    },
    Fragment {
        number: "91343852333181432397633822764885441725874549018",
        server: "1511852110.915",
        producer: "1511852110.513",
        millis_behind_now: 14155,
        cluster_ms: 2000,
    },
    Fragment {
        number: "91343852333181432402585582922026963247510532162",
        server: "1511852112.487",
        producer: "1511852112.513",
        millis_behind_now: 12940,
        cluster_ms: 4000,
    },
    Fragment {
        number: "91343852333181432407537343079168484595829378270",
        server: "1511852113.414",
        producer: "1511852114.513",
        millis_behind_now: 12414,
        cluster_ms: 6000,
    },
    Fragment {
        number: "91343852333181432412489103236310005892133364608",
        server: "1511852114.147",
        producer: "1511852116.513",
        millis_behind_now: 12093,
        cluster_ms: 8000,
    },
];

/// The seven producer tags the Java test asserts at each segment end of
/// `output_get_media.mkv`, in order (`DURATION` keeps its two NULs).
pub const OUTPUT_GET_MEDIA_PRODUCER_TAGS: [(&str, &str); 7] = [
    ("COMPATIBLE_BRANDS", "isomavc1mp42"),
    ("MAJOR_BRAND", "M4V "),
    ("MINOR_VERSION", "1"),
    ("ENCODER", "Lavf57.71.100"),
    ("HANDLER_NAME", "ETI ISO Video Media Handler"),
    ("ENCODER", "Elemental H.264"),
    ("DURATION", "00:00:10.000000000\u{0}\u{0}"),
];
