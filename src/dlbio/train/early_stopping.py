"""Early stopping on a validation loss, keeping the best epoch's weights."""

import copy
import logging

log = logging.getLogger(__name__)


class EarlyStopping:
    """Track the lowest validation loss; :meth:`step` says when ``patience`` epochs brought no improvement."""

    def __init__(self, model, patience):
        self.model, self.patience = model, patience
        self.best_loss, self.best_epoch, self.best_state = float("inf"), 0, None

    def step(self, epoch, val_loss):
        """Record ``val_loss`` of ``epoch``; True when training should stop."""
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch = val_loss, epoch
            self.best_state = copy.deepcopy(self.model.state_dict())
            return False
        return epoch - self.best_epoch >= self.patience

    def restore(self, name, epochs):
        """Load the best epoch's weights into the model and log where training stopped."""
        log.info("%s: %d epochs, best validation loss %.4f at epoch %d", name, epochs, self.best_loss, self.best_epoch)
        self.model.load_state_dict(self.best_state)
