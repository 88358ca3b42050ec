;;; wisp-eglot.el --- Wisp code completions in Emacs through eglot  -*- lexical-binding: t; -*-

;; This file registers `wisp serve' with eglot for the languages Wisp serves and passes it
;; its settings as initializationOptions.  Eglot (up to Emacs 30) has no inline completion,
;; so Wisp's suggestion arrives as one `textDocument/completion' item through
;; `completion-at-point' (M-TAB, or C-M-i), or through company/corfu if you use them.
;;
;; Usage (see editors/emacs/README.md):
;;
;;   (add-to-list 'load-path "/path/to/wisp/editors/emacs")
;;   (require 'wisp-eglot)
;;   (add-hook 'python-mode-hook #'eglot-ensure)   ; and the other modes you want
;;
;; Eglot runs one server per major mode, so for these modes Wisp takes the place of the
;; language server eglot would otherwise start (pylsp, clangd, ...).  Trim `wisp-eglot-modes'
;; before requiring this file to keep another server for some of them.

;;; Code:

(require 'eglot)
(require 'cl-lib)

(defgroup wisp-eglot nil
  "Wisp, local code completions from a small model, through eglot."
  :group 'tools
  :prefix "wisp-eglot-")

(defcustom wisp-eglot-program "wisp"
  "The wisp binary: a name found on `exec-path', or an absolute file name."
  :type 'string)

(defcustom wisp-eglot-initialization-options
  '(:completion (:enabled t) :telemetry (:events :json-false))
  "Wisp's settings, sent as initializationOptions when the server starts.
The same tree as wisp.toml, written as a plist: a section is a keyword
followed by a plist, false is written `:json-false'.  For example
  (:completion (:enabled t :max_tokens 32) :context (:mode \"file\"))
Unknown keys are refused by the server, which says so in the echo area."
  :type 'sexp)

(defcustom wisp-eglot-modes
  '((rust-ts-mode . "rust") (rustic-mode . "rust") (rust-mode . "rust")
    (python-ts-mode . "python") (python-mode . "python")
    (tsx-ts-mode . "typescriptreact")
    (typescript-ts-mode . "typescript") (typescript-mode . "typescript")
    (js-jsx-mode . "javascriptreact")
    (js-ts-mode . "javascript") (js-mode . "javascript")
    (go-ts-mode . "go") (go-mode . "go")
    (c++-ts-mode . "cpp") (c++-mode . "cpp")
    (c-ts-mode . "c") (c-mode . "c")
    (java-ts-mode . "java") (java-mode . "java"))
  "Major modes whose buffers Wisp serves, each with its LSP language id.
Modes that are not installed are harmless.  A mode derived from another
comes before it, so that it gets its own language id."
  :type '(alist :key-type symbol :value-type string))

(defvar wisp-eglot-status nil
  "The last status Wisp reported: a plist (:kind KIND :message MESSAGE :busy BUSY).")

(defun wisp-eglot-contact (&optional _interactive)
  "The eglot contact that starts Wisp.
It is read each time a server starts, so later changes to the options count."
  (list wisp-eglot-program "serve" :initializationOptions wisp-eglot-initialization-options))

(cl-defmethod eglot-handle-notification
  (_server (_method (eql didChangeStatus)) &key kind message busy &allow-other-keys)
  "Keep Wisp's status (model loading, loaded, failed) and show it when it matters."
  (setq wisp-eglot-status (list :kind kind :message message :busy busy))
  (when (and (stringp message) (not (string-empty-p message))
             (or (member kind '("Error" "Warning"))
                 (and (equal kind "Normal") (eq busy :json-false))))
    (message "Wisp: %s" message)))

(defun wisp-eglot-setup ()
  "Add Wisp to `eglot-server-programs' for every mode of `wisp-eglot-modes'."
  ;; Added last to first, so the list keeps the order of `wisp-eglot-modes' at its front.
  (dolist (entry (reverse wisp-eglot-modes))
    (add-to-list 'eglot-server-programs
                 (cons (list (car entry) :language-id (cdr entry)) #'wisp-eglot-contact))))

(wisp-eglot-setup)

(provide 'wisp-eglot)
;;; wisp-eglot.el ends here
