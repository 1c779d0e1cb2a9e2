from services.approval.main import main

main()
