from services.payment.main import main

main()
