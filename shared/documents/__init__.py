"""The office's written documents (文书): decision records, decision letters (决定书) and approval forms
(审批表), rendered as PDF in Chinese."""
