//! When the local event source mapping stops: it reads on until someone asks it to stop, then
//! stops once every shard is caught up (never in the middle of a batch).

use tokio::sync::watch;

/// What the runner watches: whether it was asked to stop. Clones watch the same request.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

/// What asks the runner to stop. Dropping it asks nothing.
#[derive(Debug)]
pub struct StopHandle(watch::Sender<bool>);

impl Stop {
    /// A runner that follows the stream until [`StopHandle::stop`].
    pub fn on_request() -> (StopHandle, Stop) {
        let (handle, stop) = watch::channel(false);
        (StopHandle(handle), Stop(stop))
    }

    /// A runner that stops as soon as every shard is caught up (a drain).
    pub fn when_drained() -> Stop {
        let (_, stop) = watch::channel(true);
        Stop(stop)
    }

    /// True once the runner was asked to stop.
    pub fn asked(&self) -> bool {
        *self.0.borrow()
    }
}

impl StopHandle {
    /// Asks the runner to stop once every shard is caught up.
    pub fn stop(&self) {
        // No runner listening any more is no error: it has stopped already.
        let _ = self.0.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_is_asked_once_its_handle_says_so() {
        let (handle, stop) = Stop::on_request();
        let watching = stop.clone();
        assert!(!stop.asked());
        handle.stop();
        assert!(stop.asked() && watching.asked());
        assert!(Stop::when_drained().asked());
        drop(handle);
        assert!(stop.asked(), "the request outlives its handle");
    }
}
