;;; test.el --- Wisp through eglot in the real Emacs, run by tests/editors/emacs.rs  -*- lexical-binding: t; -*-

;; Loads editors/emacs/wisp-eglot.el with this checkout's wisp binary, opens a Rust file in a
;; scratch workspace, lets eglot start Wisp from `eglot-server-programs', asks for a completion
;; with `completion-at-point' (what M-TAB runs) and checks that the buffer then holds exactly
;; the text Wisp's item carries, inserted at the cursor.  Exits 0 on success, 1 on failure.
;;
;; Run as: emacs --batch -Q -l tests/editors/emacs/test.el, with WISP_PROGRAM (the binary),
;; WISP_RECIPE (wisp-eglot.el), WISP_WORKSPACE (an empty folder) and WISP_RESULT (a file the
;; outcome is written to as JSON) in the environment.

;;; Code:

(require 'package)
(require 'json)
(require 'subr-x)

(defvar wisp-test-started (float-time))

(defun wisp-test-env (name)
  "The environment variable NAME, which must be set."
  (or (getenv name) (error "%s is not set" name)))

(defun wisp-test-log (format-string &rest args)
  "Print a progress line with the seconds since start."
  (princ (format "[%6.2fs] %s\n" (- (float-time) wisp-test-started) (apply #'format format-string args))))

(defun wisp-test-wait (what predicate timeout)
  "Process input until PREDICATE holds, failing with WHAT after TIMEOUT seconds."
  (let ((deadline (+ (float-time) timeout)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (error "Timed out after %ss waiting for %s" timeout what))
      (accept-process-output nil 0.05))))

(defun wisp-test-server-log ()
  "Wisp's stderr and eglot's event log, for failure reports."
  (let (out)
    (dolist (buffer (buffer-list))
      (let ((name (buffer-name buffer)))
        (when (or (string-match-p "stderr" name) (string-match-p "events" name))
          (push (format "---- %s ----\n%s" name
                        (with-current-buffer buffer
                          (let ((text (buffer-string)))
                            (if (> (length text) 20000) (substring text -20000) text))))
                out))))
    (string-join out "\n")))

(defvar wisp-test-captured nil
  "The last answer eglot received for textDocument/completion.")

(defun wisp-test-complete (what word-length)
  "Run `completion-at-point' at point and check the buffer then holds exactly the item's text in
place of its range, which must cover the WORD-LENGTH characters before point.  WHAT names the case.
Returns (ITEM . SECONDS)."
  (let* ((cursor (point))
         (before (buffer-substring-no-properties (point-min) (point-max)))
         (asked (float-time)))
    (setq wisp-test-captured nil)
    (completion-at-point)
    (let* ((seconds (- (float-time) asked))
           (item (car (append (plist-get wisp-test-captured :items) nil)))
           (edit (plist-get item :textEdit))
           (new-text (plist-get edit :newText))
           (after (buffer-substring-no-properties (point-min) (point-max)))
           (start (- cursor word-length))
           (expected (and new-text
                          (concat (substring before 0 (1- start)) new-text
                                  (substring before (1- cursor))))))
      (wisp-test-log "%s: completion in %.2fs: %S" what seconds new-text)
      (unless item (error "%s: Wisp answered no completion item: %S" what wisp-test-captured))
      (unless (and (stringp new-text) (not (string-empty-p (string-trim new-text))))
        (error "%s: the completion item has no text to insert: %S" what item))
      (unless (equal after expected)
        (error "%s: the buffer after completion-at-point is\n%s\nbut the item's text in place of its range gives\n%s"
               what after expected))
      (wisp-test-log "%s: inserted exactly the item's text" what)
      (cons item seconds))))

;; Debian's elpa-eglot lives under site-lisp/elpa, which -Q leaves out of the package path.
(add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
(package-initialize)

(let ((program (wisp-test-env "WISP_PROGRAM"))
      (recipe (wisp-test-env "WISP_RECIPE"))
      (workspace (file-name-as-directory (wisp-test-env "WISP_WORKSPACE")))
      (result-file (wisp-test-env "WISP_RESULT"))
      (status 1)
      item seconds new-text)
  (condition-case failure
      (progn
        ;; Emacs 28 has no Rust mode: a minimal one stands in for the rust-mode package, under
        ;; the same name, so the recipe's own rust-mode entry is what starts the server.
        (unless (fboundp 'rust-mode)
          (define-derived-mode rust-mode prog-mode "Rust"
            "Stand-in for the rust-mode package."
            (setq-local indent-tabs-mode nil)))
        (add-to-list 'auto-mode-alist '("\\.rs\\'" . rust-mode))

        (setq wisp-eglot-program program)
        (load recipe nil t)
        (wisp-test-log "%s, eglot %s, recipe loaded" (emacs-version)
                       (package-version-join (package-desc-version (cadr (assq 'eglot package-alist)))))

        ;; What eglot received for textDocument/completion, to compare with what it inserted.
        (advice-add 'jsonrpc-request :filter-return
                    (lambda (response)
                      (when (and (listp response) (plist-member response :items))
                        (setq wisp-test-captured response))
                      response))

        (let* ((file (expand-file-name "src/main.rs" workspace))
               (text (concat "/// Adds two numbers.\n"
                             "fn add(a: i32, b: i32) -> i32 {\n"
                             "    a + b\n"
                             "}\n"
                             "\n"
                             "/// Multiplies two numbers.\n"
                             "fn mul(a: i32, b: i32) -> i32 {\n"
                             "    \n"
                             "}\n")))
          (make-directory (file-name-directory file) t)
          (with-temp-file file (insert text))
          (find-file file)
          (unless (eq major-mode 'rust-mode)
            (error "main.rs opened in %s, not rust-mode" major-mode))

          ;; What `M-x eglot' does without prompting: the contact comes from the recipe's entry.
          (let ((guess (eglot--guess-contact)))
            (wisp-test-log "eglot contact: %S" (nth 3 guess))
            (unless (equal (nth 4 guess) "rust")
              (error "eglot would send languageId %S, not \"rust\"" (nth 4 guess)))
            (apply #'eglot guess))
          (wisp-test-wait "eglot to manage the buffer"
                          (lambda () (and (eglot-current-server) (bound-and-true-p eglot--managed-mode)))
                          60)
          (wisp-test-log "connected: %s" (plist-get (eglot--server-info (eglot-current-server)) :name))
          (wisp-test-wait "Wisp's model (didChangeStatus Normal)"
                          (lambda ()
                            (when (equal (plist-get wisp-eglot-status :kind) "Error")
                              (error "Wisp reported: %s" (plist-get wisp-eglot-status :message)))
                            (and (equal (plist-get wisp-eglot-status :kind) "Normal")
                                 (eq (plist-get wisp-eglot-status :busy) :json-false)))
                          120)
          (wisp-test-log "status: %s" (plist-get wisp-eglot-status :message))

          ;; The cursor in the body of `mul', after its indentation; then after a typed word
          ;; (clients drop an item that does not match the word before the cursor).
          (goto-char (point-min))
          (forward-line 7)
          (end-of-line)
          (let ((first (wisp-test-complete "after indentation" 0)))
            (end-of-line)
            (insert "\n    let product = a")
            (let ((second (wisp-test-complete "after a word" (length "a"))))
              (setq item (car first) seconds (cdr first) new-text (plist-get (plist-get (car first) :textEdit) :newText))
              (wisp-test-log "after a word: %S" (plist-get (plist-get (car second) :textEdit) :newText))
              ;; Eglot sends shutdown and exit, then deletes the process without waiting for it.
              (let ((server (eglot-current-server)))
                (eglot-shutdown server)
                (wisp-test-wait "wisp to stop"
                                (lambda () (not (process-live-p (jsonrpc--process server))))
                                15)
                (wisp-test-log "wisp stopped"))
              (with-temp-file result-file
                (insert (json-encode `((label . ,(plist-get item :label))
                                       (newText . ,new-text)
                                       (completionSeconds . ,seconds)
                                       (totalSeconds . ,(- (float-time) wisp-test-started))))))
              (setq status 0)))))
    (error
     (princ (format "FAILED: %s\n%s\n" (error-message-string failure) (wisp-test-server-log)))))
  (kill-emacs status))

;;; test.el ends here
