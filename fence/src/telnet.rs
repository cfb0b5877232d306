//! The client side of telnet, sans-I/O: what a fence agent needs to talk to a power switch's
//! embedded telnet server. Received bytes are split into text and option replies: the server may
//! echo and suppress go-ahead (we answer DO), every other option is refused (DONT / WONT),
//! subnegotiations are skipped, and a doubled 0xFF is one data byte. Sent data doubles 0xFF.

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;
const OPT_ECHO: u8 = 1;
const OPT_SGA: u8 = 3;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Data,
    Iac,
    Verb(u8),
    Sub,
    SubIac,
}

/// Telnet decoding state of one connection.
#[derive(Debug, Default)]
pub struct Client {
    state: State,
    agreed: Vec<u8>,
}

impl Client {
    /// Split `bytes` from the server into data and the replies to send back.
    pub fn decode(&mut self, bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut data = Vec::with_capacity(bytes.len());
        let mut reply = Vec::new();
        for &b in bytes {
            self.state = match (self.state, b) {
                (State::Data, IAC) => State::Iac,
                (State::Data, b) => {
                    data.push(b);
                    State::Data
                }
                (State::Iac, IAC) => {
                    data.push(IAC);
                    State::Data
                }
                (State::Iac, v @ (DO | DONT | WILL | WONT)) => State::Verb(v),
                (State::Iac, SB) => State::Sub,
                (State::Iac, _) => State::Data,
                (State::Verb(v), opt) => {
                    match v {
                        // Answer once: replying to our own agreement would loop.
                        WILL if matches!(opt, OPT_ECHO | OPT_SGA)
                            && !self.agreed.contains(&opt) =>
                        {
                            self.agreed.push(opt);
                            reply.extend([IAC, DO, opt]);
                        }
                        WILL if matches!(opt, OPT_ECHO | OPT_SGA) => {}
                        WILL => reply.extend([IAC, DONT, opt]),
                        DO => reply.extend([IAC, WONT, opt]),
                        _ => {}
                    }
                    State::Data
                }
                (State::Sub, IAC) => State::SubIac,
                (State::Sub, _) => State::Sub,
                (State::SubIac, SE) => State::Data,
                (State::SubIac, _) => State::Sub,
            };
        }
        (data, reply)
    }
}

/// `data` as it goes on the wire (0xFF doubled).
pub fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for &b in data {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_and_plain_text_passes_through(
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            text in "[ -~\r\n]{0,80}",
            cut in 0usize..200,
        ) {
            let mut c = Client::default();
            let cut = cut.min(junk.len());
            let _ = c.decode(&junk[..cut]);
            let _ = c.decode(&junk[cut..]);
            // Whatever came before, once out of an option the text arrives unchanged.
            let mut c = Client::default();
            let wire = encode(text.as_bytes());
            let (d, r) = c.decode(&wire);
            proptest::prop_assert_eq!(d, text.as_bytes().to_vec());
            proptest::prop_assert!(r.is_empty());
        }
    }

    #[test]
    fn negotiation_and_data() {
        let mut c = Client::default();
        let (d, r) = c.decode(&[
            IAC, WILL, OPT_ECHO, IAC, WILL, OPT_SGA, b'h', IAC, DO, 24, b'i',
        ]);
        assert_eq!(d, b"hi");
        assert_eq!(r, vec![IAC, DO, OPT_ECHO, IAC, DO, OPT_SGA, IAC, WONT, 24]);
        // Repeated offers are not answered again; options split across reads still decode.
        let (d, r) = c.decode(&[IAC, WILL]);
        assert!(d.is_empty() && r.is_empty());
        let (d, r) = c.decode(&[
            OPT_ECHO, IAC, IAC, IAC, SB, 24, 1, IAC, SE, b'x', IAC, WILL, 5,
        ]);
        assert_eq!(d, vec![IAC, b'x']);
        assert_eq!(r, vec![IAC, DONT, 5]);
        assert_eq!(encode(&[1, IAC, 2]), vec![1, IAC, IAC, 2]);
    }
}
