//! The file area that FTP serves: one home tree per account. (Being built for the FTP
//! service; see issue 6.)
