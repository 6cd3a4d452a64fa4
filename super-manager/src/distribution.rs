//! File distribution: an admin publishes a bundle (files with their modes) to a set of
//! hosts; the centre signs it with its own key and hands it, through the brokers and the
//! region that polls each host, to the host's agent, which checks the signature and its
//! own `[[accept_files]]` before writing anything, and answers applied or refused with the
//! reason. A host that could not be reached stays pending and is tried again, with a
//! growing wait, until it answers: an agent that was down gets the bundle when it returns.
//! A rollback is published like a bundle: a signed order to restore a version the hosts
//! kept. What is published and where it stands is [`crate::files`]'s store.
//!
//! # Layout
//! - [`publish`]: the request read and checked, the hosts chosen, the manifest signed.
//! - [`distribute`]: the task that hands pending bundles to their hosts.

pub mod distribute;
pub mod publish;
